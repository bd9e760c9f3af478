using Rx.Netstack.Devices;

namespace Rx.Netstack.Tests.Interop;

/// <summary>The kernel's <c>ping</c> run in a namespace against a stack that may still be settling.</summary>
internal static class KernelPing
{
    /// <summary>
    /// Pings <paramref name="address"/> from <paramref name="host"/> until one round of <paramref name="count"/> echoes is
    /// answered in full (at most five rounds of at most 5 s each) and returns the last round's output. A stack's IPv6 address
    /// is tentative for its first second (RFC 4862 duplicate address detection): a neighbour solicitation the host sends then
    /// goes unanswered, the host reports "address unreachable", and iputils' ping counts that error towards -c and stops
    /// early — a round that says nothing about the stack once its address is valid.
    /// </summary>
    public static string UntilAnswered(NetworkNamespace host, string address, int count = 3)
    {
        string last = "";
        string expected = $"{count} received";
        for (int round = 0; round < 5; round++)
        {
            try { last = host.Exec("ping", "-c", count.ToString(System.Globalization.CultureInfo.InvariantCulture), "-i", "0.2", "-w", "5", address); }
            catch (InvalidOperationException e) { last = e.Message; }
            if (last.Contains(expected, StringComparison.Ordinal)) break;
        }
        return last;
    }
}
