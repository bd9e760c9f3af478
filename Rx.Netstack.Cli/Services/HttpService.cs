using System.Globalization;
using System.Net;
using System.Text;
using Rx.Netstack.Sockets;

namespace Rx.Netstack.Cli.Services;

/// <summary>
/// A small hand-written HTTP/1.1 server over <see cref="TcpConnection"/>: <c>GET /</c> (and <c>HEAD /</c>) returns a page
/// with the stack's live counters, <c>GET /stats.txt</c> the same as plain text. Responses carry Content-Length; connections
/// persist (keep-alive, pipelining) until the client says <c>Connection: close</c>, goes quiet for
/// <see cref="IdleTimeout"/>, or the service stops.
/// </summary>
public sealed class HttpService(Netstack stack, ushort port = 80, TextWriter? log = null) : TcpService("http", port, log)
{
    private const int MaxHeadLength = 8 * 1024;
    private static readonly byte[] HeadEnd = "\r\n\r\n"u8.ToArray();
    private long _requests;

    /// <summary>How long a kept-alive connection may wait for its next request.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>Requests answered since start.</summary>
    public long RequestsServed => Interlocked.Read(ref _requests);

    /// <inheritdoc />
    protected override async Task HandleAsync(TcpConnection connection, CancellationToken cancellationToken)
    {
        var buffer = new byte[MaxHeadLength];
        int filled = 0;
        while (true)
        {
            // Read until the blank line that ends the head (RFC 9112 §2.1), within the idle timeout.
            int headEnd;
            using (var idle = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                idle.CancelAfter(IdleTimeout);
                while ((headEnd = buffer.AsSpan(0, filled).IndexOf(HeadEnd)) < 0)
                {
                    if (filled == buffer.Length)
                    {
                        await RespondAsync(connection, 431, "Request Header Fields Too Large", "text/plain", "request head too large\n"u8.ToArray(), false, true, cancellationToken).ConfigureAwait(false);
                        return;
                    }
                    int read;
                    try
                    {
                        read = await connection.ReadAsync(buffer.AsMemory(filled), idle.Token).ConfigureAwait(false);
                    }
                    catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                    {
                        Write($"{connection.Remote}: idle for {IdleTimeout.TotalSeconds} s, closing");
                        return;
                    }
                    if (read == 0)
                    {
                        if (filled > 0) Write($"{connection.Remote}: closed in the middle of a request head");
                        await connection.ShutdownWriteAsync(cancellationToken).ConfigureAwait(false);
                        return;
                    }
                    filled += read;
                }
            }

            var request = HttpRequestHead.Parse(buffer.AsSpan(0, headEnd));
            int consumed = headEnd + HeadEnd.Length;
            if (request is null)
            {
                await RespondAsync(connection, 400, "Bad Request", "text/plain", "malformed request\n"u8.ToArray(), false, true, cancellationToken).ConfigureAwait(false);
                return;
            }
            if (request.Chunked)
            {
                await RespondAsync(connection, 501, "Not Implemented", "text/plain", "chunked request bodies are not supported\n"u8.ToArray(), false, true, cancellationToken).ConfigureAwait(false);
                return;
            }

            // Skip the request body: it is in the buffer already, or still to come.
            long bodyLeft = request.ContentLength;
            int inBuffer = (int)Math.Min(bodyLeft, filled - consumed);
            consumed += inBuffer;
            bodyLeft -= inBuffer;
            Buffer.BlockCopy(buffer, consumed, buffer, 0, filled - consumed);
            filled -= consumed;
            while (bodyLeft > 0)
            {
                int read = await connection.ReadAsync(buffer.AsMemory(0, (int)Math.Min(buffer.Length, bodyLeft)), cancellationToken).ConfigureAwait(false);
                if (read == 0) return;
                bodyLeft -= read;
            }

            Interlocked.Increment(ref _requests);
            bool keepAlive = request.KeepAlive;
            bool head = request.Method == "HEAD";
            Write($"{connection.Remote}: {request.Method} {request.Target} {request.Version}");
            if (request.Method is not ("GET" or "HEAD"))
                await RespondAsync(connection, 405, "Method Not Allowed", "text/plain", "only GET and HEAD\n"u8.ToArray(), keepAlive, false, cancellationToken, "Allow: GET, HEAD\r\n").ConfigureAwait(false);
            else if (request.Target is "/" or "/index.html")
                await RespondAsync(connection, 200, "OK", "text/html; charset=utf-8", Encoding.UTF8.GetBytes(RenderPage()), keepAlive, head, cancellationToken).ConfigureAwait(false);
            else if (request.Target == "/stats.txt")
                await RespondAsync(connection, 200, "OK", "text/plain; charset=utf-8", Encoding.UTF8.GetBytes(RenderText()), keepAlive, head, cancellationToken).ConfigureAwait(false);
            else
                await RespondAsync(connection, 404, "Not Found", "text/plain", Encoding.UTF8.GetBytes($"no such page: {request.Target}\n"), keepAlive, head, cancellationToken).ConfigureAwait(false);

            if (!keepAlive)
            {
                await connection.ShutdownWriteAsync(cancellationToken).ConfigureAwait(false);
                return;
            }
        }
    }

    private static async Task RespondAsync(TcpConnection connection, int status, string reason, string contentType, byte[] body, bool keepAlive,
        bool headOnly, CancellationToken cancellationToken, string extraHeaders = "")
    {
        string head = string.Create(CultureInfo.InvariantCulture,
            $"HTTP/1.1 {status} {reason}\r\nServer: rx-netstack\r\nContent-Type: {contentType}\r\nContent-Length: {body.Length}\r\n" +
            $"Connection: {(keepAlive ? "keep-alive" : "close")}\r\n{extraHeaders}\r\n");
        byte[] response = headOnly ? Encoding.ASCII.GetBytes(head) : [.. Encoding.ASCII.GetBytes(head), .. body];
        await connection.SendAsync(response, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The counters as (name, value) rows, in display order.</summary>
    private IEnumerable<(string Name, string Value)> CounterRows()
    {
        var s = stack.GetStats();
        string F(long v) => v.ToString("N0", CultureInfo.InvariantCulture);
        yield return ("addresses", string.Join(", ", stack.Addresses));
        yield return ("mtu", stack.Mtu.ToString(CultureInfo.InvariantCulture));
        yield return ("frames in / out", $"{F(s.FramesIn)} / {F(s.FramesOut)}");
        yield return ("bytes in / out", $"{F(s.BytesIn)} / {F(s.BytesOut)}");
        yield return ("IPv4 / IPv6 packets in", $"{F(s.Ipv4In)} / {F(s.Ipv6In)}");
        yield return ("TCP segments in / out", $"{F(s.TcpIn)} / {F(s.TcpOut)}");
        yield return ("TCP retransmissions", F(s.TcpRetransmissions));
        yield return ("UDP datagrams in / out", $"{F(s.UdpIn)} / {F(s.UdpOut)}");
        yield return ("ICMP messages in / out", $"{F(s.IcmpIn)} / {F(s.IcmpOut)}");
        yield return ("fragments in / out", $"{F(s.FragmentsIn)} / {F(s.FragmentsOut)}");
        yield return ("datagrams reassembled", F(s.DatagramsReassembled));
        yield return ("sockets", string.Join(", ", s.SocketsByKind.Select(kv => $"{kv.Key} {kv.Value}")));
        yield return ("connections", string.Join(", ", s.ConnectionsByState.Select(kv => $"{kv.Key} {kv.Value}")));
        yield return ("drops", s.TotalDrops == 0 ? "0" : string.Join(", ", s.Drops.Select(kv => $"{kv.Key} {F(kv.Value)}")));
        yield return ("HTTP requests", F(RequestsServed));
    }

    private string RenderPage()
    {
        var html = new StringBuilder("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>rx-netstack</title></head><body>\n");
        html.Append("<h1>rx-netstack</h1>\n<p>Served by a userspace TCP/IP stack in .NET.</p>\n<table>\n");
        foreach (var (name, value) in CounterRows())
            html.Append(CultureInfo.InvariantCulture, $"<tr><th align=\"left\">{WebUtility.HtmlEncode(name)}</th><td>{WebUtility.HtmlEncode(value)}</td></tr>\n");
        html.Append("</table>\n</body></html>\n");
        return html.ToString();
    }

    private string RenderText() =>
        string.Concat(CounterRows().Select(row => $"{row.Name}: {row.Value}\n"));
}
