using System.Text.RegularExpressions;

namespace Rx.Netstack.Tests.Api;

/// <summary>Namespaces follow folders in the libraries (docs/architecture.md, "Names"): a type is where its name says.</summary>
public sealed partial class NamespaceTests
{
    [GeneratedRegex(@"^namespace (?<name>[\w.]+)\s*[;{]", RegexOptions.Multiline)]
    private static partial Regex NamespaceDeclaration();

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Rx.Netstack.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException("Rx.Netstack.sln not found above the test binaries.");
    }

    [Theory]
    [InlineData("Rx.Netstack")]
    public void Every_file_declares_the_namespace_of_its_folder(string project)
    {
        string root = RepositoryRoot();
        var wrong = Directory.GetFiles(Path.Combine(root, project), "*.cs", SearchOption.AllDirectories)
            .Select(path => Path.GetRelativePath(root, path))
            .Where(path => !path.Split(Path.DirectorySeparatorChar).Intersect(["bin", "obj"]).Any())
            .Select(path => (Path: path, Expected: Path.GetDirectoryName(path)!.Replace(Path.DirectorySeparatorChar, '.'),
                Declared: NamespaceDeclaration().Match(File.ReadAllText(Path.Combine(root, path))).Groups["name"].Value))
            .Where(file => file.Declared != file.Expected)
            .Select(file => $"{file.Path}: namespace {file.Declared}, folder {file.Expected}")
            .ToList();

        Assert.Empty(wrong);
    }
}
