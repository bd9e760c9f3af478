using System.Globalization;
using System.Text.Json;

namespace Rx.Netstack.Cli;

/// <summary>One measured line of a benchmark: which benchmark, which side (our stack or the kernel), and its figures.</summary>
internal sealed record BenchResult(string Bench, string Target, IReadOnlyList<(string Name, object Value)> Figures)
{
    public object? this[string name] => Figures.FirstOrDefault(f => f.Name == name).Value;

    public string ToJson()
    {
        var fields = new Dictionary<string, object> { ["bench"] = Bench, ["target"] = Target };
        foreach (var (name, value) in Figures) fields[name] = value is double d ? Math.Round(d, 3) : value;
        return JsonSerializer.Serialize(fields);
    }

    /// <summary>Prints <paramref name="results"/> as JSON lines or as one table (columns from the first result).</summary>
    public static void Print(DemoConsole console, bool json, string title, IReadOnlyList<BenchResult> results)
    {
        if (json)
        {
            foreach (var r in results) Console.WriteLine(r.ToJson());
            return;
        }
        var names = results.SelectMany(r => r.Figures.Select(f => f.Name)).Distinct().ToList();
        console.Table(title, ["target", .. names],
            results.Select(r => (IReadOnlyList<string>)[r.Target, .. names.Select(n => Format(r[n]))]));
    }

    private static string Format(object? value) => value switch
    {
        null => "",
        double d when Math.Abs(d) >= 100 => d.ToString("N0", CultureInfo.InvariantCulture),
        double d => d.ToString("0.###", CultureInfo.InvariantCulture),
        long l => l.ToString("N0", CultureInfo.InvariantCulture),
        int i => i.ToString("N0", CultureInfo.InvariantCulture),
        _ => Convert.ToString(value, CultureInfo.InvariantCulture) ?? "",
    };
}
