using System.Text.RegularExpressions;

namespace Rx.Netstack.Tests.Api;

/// <summary>
/// The docs' C# samples are the bodies of the tests in samples/api-tour/ApiTour.cs (compiled into this suite too): each <c>&lt;!-- sample: name --&gt;</c>
/// in docs/getting-started.md, api.md, architecture.md and devices.md is followed by a csharp block equal to the region
/// <c>// begin-sample: name</c> … <c>// end-sample</c>; no csharp block goes without a marker; no sample goes unused.
/// Blocks marked <c>&lt;!-- file: path --&gt;</c> or <c>&lt;!-- from: path --&gt;</c> show files of samples/ instead
/// (checked by <see cref="SamplesInSyncTests"/>).
/// </summary>
public sealed partial class DocSamplesInSyncTests
{
    private static readonly string[] Docs = ["getting-started.md", "api.md", "architecture.md", "devices.md", "../README.md"];

    [GeneratedRegex(@"^[ \t]*// begin-sample: (?<name>\S+)\r?\n(?<body>.*?)^[ \t]*// end-sample", RegexOptions.Multiline | RegexOptions.Singleline)]
    private static partial Regex SampleRegion();

    [GeneratedRegex(@"```csharp\r?\n(?<body>.*?)```", RegexOptions.Singleline)]
    private static partial Regex CsharpBlock();

    [GeneratedRegex(@"<!-- sample: (?<name>\S+) -->\s*```csharp\r?\n(?<body>.*?)```", RegexOptions.Singleline)]
    private static partial Regex MarkedBlock();

    [GeneratedRegex(@"<!-- (?:file|from): \S+ -->\s*```csharp\r?\n")]
    private static partial Regex FileMarkedBlock();

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Rx.Netstack.sln"))) return dir.FullName;
        throw new DirectoryNotFoundException("Rx.Netstack.sln not found above the test binaries.");
    }

    /// <summary>Removes the common indentation and trailing blanks, so a method body and a doc block compare as text.</summary>
    internal static string Normalize(string code)
    {
        string[] lines = code.Replace("\r\n", "\n").TrimEnd().Split('\n').Select(l => l.TrimEnd()).ToArray();
        int indent = lines.Where(l => l.Length > 0).Select(l => l.Length - l.TrimStart().Length).DefaultIfEmpty(0).Min();
        return string.Join("\n", lines.Select(l => l.Length >= indent ? l[indent..] : l));
    }

    internal static Dictionary<string, string> Samples()
    {
        string source = File.ReadAllText(Path.Combine(RepositoryRoot(), "samples", "api-tour", "ApiTour.cs"));
        return SampleRegion().Matches(source).ToDictionary(m => m.Groups["name"].Value, m => Normalize(m.Groups["body"].Value));
    }

    [Fact]
    public void Every_csharp_block_in_the_docs_is_a_sample_that_runs_and_matches_it()
    {
        Dictionary<string, string> samples = Samples();
        Assert.NotEmpty(samples);
        var used = new HashSet<string>();
        foreach (string doc in Docs)
        {
            string text = File.ReadAllText(Path.Combine(RepositoryRoot(), "docs", doc));
            var marked = MarkedBlock().Matches(text);
            // No unmarked (untested) csharp block.
            Assert.Equal(CsharpBlock().Count(text), marked.Count + FileMarkedBlock().Count(text));
            foreach (Match block in marked)
            {
                string name = block.Groups["name"].Value;
                Assert.True(samples.TryGetValue(name, out string? code), $"{doc} names sample '{name}', which DocSamples.cs does not have.");
                Assert.Equal(code, Normalize(block.Groups["body"].Value));
                used.Add(name);
            }
        }
        Assert.Empty(samples.Keys.Except(used));
    }
}
