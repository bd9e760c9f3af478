using System.Text;

namespace Rx.Netstack.Cli.Services;

/// <summary>The request line and the few headers the small HTTP/1.1 server acts on (RFC 9112 §3, §6, §9).</summary>
/// <param name="Method">GET, HEAD …</param>
/// <param name="Target">The request target ("/", "/index.html").</param>
/// <param name="Version">"HTTP/1.1" or "HTTP/1.0".</param>
/// <param name="ContentLength">The request body's length (0 when absent).</param>
/// <param name="Chunked">True when the body is chunked (not supported: answered 501).</param>
/// <param name="KeepAlive">Whether the client wants the connection kept open after the response.</param>
public sealed record HttpRequestHead(string Method, string Target, string Version, long ContentLength, bool Chunked, bool KeepAlive)
{
    /// <summary>Parses the head (everything before the blank line, without it); null when it is malformed.</summary>
    public static HttpRequestHead? Parse(ReadOnlySpan<byte> head)
    {
        string text;
        try { text = Encoding.ASCII.GetString(head); }
        catch (DecoderFallbackException) { return null; }
        string[] lines = text.Split("\r\n");
        string[] requestLine = lines[0].Split(' ');
        if (requestLine.Length != 3 || requestLine[0].Length == 0 || requestLine[1].Length == 0) return null;
        string version = requestLine[2];
        if (version is not ("HTTP/1.1" or "HTTP/1.0")) return null;

        long contentLength = 0;
        bool chunked = false;
        bool? keepAlive = null;
        foreach (string line in lines.AsSpan(1))
        {
            int colon = line.IndexOf(':');
            if (colon <= 0) return null; // RFC 9112 §5: a field line is name ":" value; no obsolete line folding
            string name = line[..colon];
            string value = line[(colon + 1)..].Trim();
            if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
            {
                if (!long.TryParse(value, System.Globalization.NumberStyles.None, null, out contentLength)) return null;
            }
            else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
            {
                chunked |= value.Contains("chunked", StringComparison.OrdinalIgnoreCase);
            }
            else if (name.Equals("Connection", StringComparison.OrdinalIgnoreCase))
            {
                if (value.Contains("close", StringComparison.OrdinalIgnoreCase)) keepAlive = false;
                else if (value.Contains("keep-alive", StringComparison.OrdinalIgnoreCase)) keepAlive ??= true;
            }
        }
        // RFC 9112 §9.3: HTTP/1.1 persists unless "close"; HTTP/1.0 only with "keep-alive".
        return new HttpRequestHead(requestLine[0], requestLine[1], version, contentLength, chunked, keepAlive ?? version == "HTTP/1.1");
    }
}
