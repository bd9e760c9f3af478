using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace Rx.Netstack.Tests.Api;

/// <summary>
/// The projects under samples/ are what the docs show. A block after <c>&lt;!-- file: path --&gt;</c> in the README, the docs or
/// a package README is that file whole; a block after <c>&lt;!-- from: path --&gt;</c> is a run of its lines. Every sample's
/// code is shown whole in docs/getting-started.md, every sample has its line in samples/README.md, and every sample uses the
/// packages by the version the repository packs (CI builds and runs the samples against those packages).
/// </summary>
public sealed partial class SamplesInSyncTests
{
    [GeneratedRegex(@"<!-- (?<kind>file|from): (?<path>\S+) -->\s*```[a-z]*\r?\n(?<body>.*?)```", RegexOptions.Singleline)]
    private static partial Regex FileBlock();

    [GeneratedRegex(@"<Version>(?<version>[^<]+)</Version>")]
    private static partial Regex VersionProperty();

    private static readonly string Root = RepositoryRoot();

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Rx.Netstack.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException("Rx.Netstack.sln not found above the test binaries.");
    }

    /// <summary>The README, the docs, samples/README.md and each package's README.</summary>
    private static IEnumerable<string> Documents() =>
        new[] { "README.md", Path.Combine("samples", "README.md") }
            .Concat(Directory.GetFiles(Path.Combine(Root, "docs"), "*.md").Select(p => Path.GetRelativePath(Root, p)))
            .Concat(Directory.GetDirectories(Root, "Rx.Netstack*").Select(d => Path.Combine(Path.GetFileName(d), "README.md"))
                .Where(p => File.Exists(Path.Combine(Root, p))));

    private static string[] Lines(string text) => text.Replace("\r\n", "\n").TrimEnd().Split('\n').Select(l => l.TrimEnd()).ToArray();

    private static string[] SampleFiles(string extension) =>
        Directory.GetFiles(Path.Combine(Root, "samples"), "*" + extension, SearchOption.AllDirectories)
            .Where(p => !p.Split(Path.DirectorySeparatorChar).Intersect(["bin", "obj"]).Any())
            .Select(p => Path.GetRelativePath(Root, p).Replace('\\', '/'))
            .Order()
            .ToArray();

    [Fact]
    public void Every_file_block_in_the_docs_is_the_file_and_every_excerpt_is_a_run_of_its_lines()
    {
        int blocks = 0;
        foreach (string doc in Documents())
        {
            foreach (Match block in FileBlock().Matches(File.ReadAllText(Path.Combine(Root, doc))))
            {
                string path = block.Groups["path"].Value;
                string file = Path.Combine(Root, path);
                Assert.True(File.Exists(file), $"{doc} shows {path}, which does not exist.");
                string[] shown = Lines(block.Groups["body"].Value), actual = Lines(File.ReadAllText(file));
                if (block.Groups["kind"].Value == "file")
                    Assert.True(shown.SequenceEqual(actual), $"{doc} shows {path} differently from the file: copy the file into the doc.");
                else
                    Assert.True(IsRunOf(shown, actual), $"{doc}'s excerpt of {path} is not a run of that file's lines.");
                blocks++;
            }
        }
        Assert.True(blocks > 10, $"only {blocks} file blocks found");
    }

    /// <summary>True when <paramref name="excerpt"/> (its common indentation removed) is consecutive lines of <paramref name="file"/>.</summary>
    private static bool IsRunOf(string[] excerpt, string[] file)
    {
        string expected = DocSamplesInSyncTests.Normalize(string.Join("\n", excerpt));
        for (int start = 0; start + excerpt.Length <= file.Length; start++)
            if (DocSamplesInSyncTests.Normalize(string.Join("\n", file.Skip(start).Take(excerpt.Length))) == expected) return true;
        return false;
    }

    /// <summary>The api tour's source is shown by regions in docs/api.md (<see cref="DocSamplesInSyncTests"/>), its project whole there.</summary>
    private const string ApiTour = "samples/api-tour/ApiTour.cs";

    [Fact]
    public void Every_sample_file_is_shown_whole_in_getting_started_or_api_md()
    {
        string text = File.ReadAllText(Path.Combine(Root, "docs", "getting-started.md"));
        var shown = FileBlock().Matches(text).Where(m => m.Groups["kind"].Value == "file").Select(m => m.Groups["path"].Value).ToHashSet();
        shown.UnionWith(FileBlock().Matches(File.ReadAllText(Path.Combine(Root, "docs", "api.md")))
            .Where(m => m.Groups["kind"].Value == "file").Select(m => m.Groups["path"].Value));
        Assert.Empty(SampleFiles(".cs").Where(f => f != ApiTour && !shown.Contains(f)));
        // A project file not shown is the same as one that is (getting-started says which).
        var shownProjects = shown.Where(p => p.EndsWith(".csproj", StringComparison.Ordinal))
            .Select(p => File.ReadAllText(Path.Combine(Root, p))).ToList();
        Assert.Empty(SampleFiles(".csproj").Where(f => !shown.Contains(f) && !shownProjects.Contains(File.ReadAllText(Path.Combine(Root, f)))));
    }

    [Fact]
    public void Every_sample_has_a_line_in_the_samples_readme()
    {
        string readme = File.ReadAllText(Path.Combine(Root, "samples", "README.md"));
        string[] samples = SampleFiles(".csproj").Select(p => p.Split('/')[1]).ToArray();
        Assert.Equal(6, samples.Length);
        foreach (string sample in samples)
            Assert.Matches($@"(?m)^\| \[{Regex.Escape(sample)}\]\({Regex.Escape(sample)}/\S+\) \| \S.*\|$", readme);
    }

    [Fact]
    public void Samples_use_the_packages_by_the_version_the_repository_packs()
    {
        string version = VersionProperty().Match(File.ReadAllText(Path.Combine(Root, "Directory.Build.props"))).Groups["version"].Value;
        Assert.NotEmpty(version);
        foreach (string project in SampleFiles(".csproj"))
        {
            XDocument xml = XDocument.Load(Path.Combine(Root, project));
            Assert.Empty(xml.Descendants("ProjectReference"));
            var ours = xml.Descendants("PackageReference").Where(r => ((string?)r.Attribute("Include"))!.StartsWith("Rx.Netstack", StringComparison.Ordinal)).ToList();
            Assert.NotEmpty(ours);
            Assert.All(ours, r => Assert.Equal(version, (string?)r.Attribute("Version")));
        }
    }

    [Fact]
    public void The_samples_nuget_config_adds_the_local_feed_and_clears_and_names_no_source()
    {
        XDocument config = XDocument.Load(Path.Combine(Root, "samples", "nuget.config"));
        Assert.Empty(config.Descendants("clear"));
        var sources = config.Descendants("packageSources").Elements("add").Select(e => (string?)e.Attribute("value") ?? "").ToArray();
        Assert.Equal(["../artifacts/packages"], sources);
    }
}
