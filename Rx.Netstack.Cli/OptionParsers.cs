using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Rx.Netstack.Cli;

/// <summary>
/// Value parsers for System.CommandLine options whose errors say what was wrong and what was meant, always as
/// "--option: 'value' is not …" (its own "Cannot parse argument 'x' for option '--mtu' as expected type 'System.Int32'"
/// names a .NET type, not a range).
/// </summary>
internal static class OptionParsers
{
    /// <summary>A whole number within <paramref name="min"/>..<paramref name="max"/>.</summary>
    public static Func<ArgumentResult, int> WholeNumber(string option, int min, int max) => result =>
    {
        string text = Text(result);
        if (int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out int value) && value >= min && value <= max) return value;
        result.AddError(string.Create(CultureInfo.InvariantCulture, $"{option}: '{text}' is not a whole number within {min}..{max}"));
        return default;
    };

    /// <summary>A number greater than 0 and at most <paramref name="max"/> (fractions allowed).</summary>
    public static Func<ArgumentResult, double> PositiveNumber(string option, double max) => result =>
    {
        string text = Text(result);
        if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) && value > 0 && value <= max) return value;
        result.AddError(string.Create(CultureInfo.InvariantCulture, $"{option}: '{text}' is not a number greater than 0 and at most {max}"));
        return default;
    };

    /// <summary>One of the words in <paramref name="choices"/>.</summary>
    public static Func<ArgumentResult, string> OneOf(string option, params string[] choices) => result =>
    {
        string text = Text(result);
        if (choices.Contains(text, StringComparer.Ordinal)) return text;
        result.AddError($"{option}: '{text}' is not one of {string.Join(", ", choices)}{Typos.DidYouMean(text, choices)}");
        return choices[0];
    };

    /// <summary>A file to write: its directory must exist (the file is created or overwritten).</summary>
    public static Option<string?> OutputFile(string name, string description)
    {
        var option = new Option<string?>(name) { Description = description, HelpName = "FILE" };
        option.Validators.Add(result =>
        {
            string? path = result.GetValueOrDefault<string?>();
            if (path is null) return;
            if (path.Length == 0 || path.EndsWith('/') || Directory.Exists(path))
            {
                result.AddError($"{name}: '{path}' is not a file name");
                return;
            }
            string? directory = Path.GetDirectoryName(Path.GetFullPath(path));
            if (directory is not null && !Directory.Exists(directory))
                result.AddError($"{name}: the directory '{directory}' of '{path}' does not exist");
        });
        return option;
    }

    /// <summary>
    /// ADDRESS:PORT with a literal address: 127.0.0.1:8080 or [::1]:8080, port 0..65535. Stricter than
    /// <see cref="IPEndPoint.TryParse(string, out IPEndPoint?)"/>, which takes "8080" for 0.0.31.144 port 0 and "::1" for port 0.
    /// </summary>
    public static bool TryParseEndpoint(string text, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out IPEndPoint? endpoint)
    {
        endpoint = null;
        int colon = text.LastIndexOf(':');
        if (colon <= 0 || !ushort.TryParse(text.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out ushort port)) return false;
        string host = text[..colon];
        if (host.StartsWith('[') && host.EndsWith(']')) host = host[1..^1];
        else if (host.Contains(':', StringComparison.Ordinal)) return false; // IPv6 needs brackets, or the port is ambiguous
        if (!IPAddress.TryParse(host, out IPAddress? address)) return false;
        // IPAddress.TryParse also takes "1" and "10.1" (BSD inet_aton forms): only dotted quads are meant here.
        if (address.AddressFamily == AddressFamily.InterNetwork && host.Count(c => c == '.') != 3) return false;
        endpoint = new IPEndPoint(address, port);
        return true;
    }

    /// <summary>The option's value as typed (the last token: a scalar option takes one).</summary>
    public static string Text(ArgumentResult result) => result.Tokens.Count > 0 ? result.Tokens[^1].Value : "";
}
