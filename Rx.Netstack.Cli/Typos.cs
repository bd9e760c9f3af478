namespace Rx.Netstack.Cli;

/// <summary>"Did you mean …?" for a mistyped command, option or word: the closest candidates by edit distance.</summary>
internal static class Typos
{
    /// <summary>The candidates close to <paramref name="typed"/>, closest first: at most 2 edits (1 for short words), or a prefix.</summary>
    public static IReadOnlyList<string> Closest(string typed, IEnumerable<string> candidates)
    {
        string bare = typed.TrimStart('-');
        int allowed = bare.Length <= 3 ? 1 : 2;
        return candidates
            .Distinct(StringComparer.Ordinal)
            .Select(candidate => (Candidate: candidate, Distance: Distance(typed, candidate)))
            .Where(c => c.Distance <= allowed || (bare.Length >= 3 && c.Candidate.TrimStart('-').StartsWith(bare, StringComparison.Ordinal)))
            .OrderBy(c => c.Distance)
            .ThenBy(c => c.Candidate, StringComparer.Ordinal)
            .Select(c => c.Candidate)
            .ToList();
    }

    /// <summary>"; did you mean 'x'?" (or "'x' or 'y'"), or "" when nothing is close.</summary>
    public static string DidYouMean(string typed, IEnumerable<string> candidates)
    {
        var closest = Closest(typed, candidates);
        return closest.Count == 0 ? "" : $"; did you mean {string.Join(" or ", closest.Take(3).Select(c => $"'{c}'"))}?";
    }

    /// <summary>Levenshtein distance, with a swap of two neighbours counted as one edit (optimal string alignment).</summary>
    public static int Distance(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
            }
        }
        return d[a.Length, b.Length];
    }
}
