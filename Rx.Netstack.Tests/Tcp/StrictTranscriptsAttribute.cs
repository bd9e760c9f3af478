using System.Reflection;
using Xunit.Sdk;

[assembly: Rx.Netstack.Tests.Tcp.StrictTranscripts]

namespace Rx.Netstack.Tests.Tcp;

/// <summary>
/// Ends every transcript strictly: after each test, every <see cref="TcpTestPeer"/> the test made must have had every segment
/// its connection emitted taken by an <c>Expect</c>, <c>TakeAll</c> or <c>ExpectNothing</c>. A segment nobody looked at — a
/// duplicate ACK, a stray retransmission, a second FIN — is a bug the transcript would otherwise pass over. (It checks up to
/// the transcript's last step; an <c>ExpectNothing(later)</c> says how long the connection must then stay quiet.)
/// </summary>
[AttributeUsage(AttributeTargets.Assembly | AttributeTargets.Class | AttributeTargets.Method)]
public sealed class StrictTranscriptsAttribute : BeforeAfterTestAttribute
{
    /// <summary>The peers made by the running test (flows with it: set before the test method, read after it).</summary>
    private static readonly AsyncLocal<List<TcpTestPeer>?> Peers = new();

    internal static void Track(TcpTestPeer peer)
    {
        if (Peers.Value is { } list)
            lock (list) list.Add(peer);
    }

    /// <inheritdoc />
    public override void Before(MethodInfo methodUnderTest) => Peers.Value = [];

    /// <inheritdoc />
    public override void After(MethodInfo methodUnderTest)
    {
        List<TcpTestPeer> peers = Peers.Value ?? [];
        Peers.Value = null;
        foreach (TcpTestPeer peer in peers)
            if (peer.Unconsumed.Count > 0)
                throw new InvalidOperationException(
                    $"The transcript ended with {peer.Unconsumed.Count} segment(s) it never looked at: " +
                    string.Join("; ", peer.Unconsumed.Take(5)));
    }
}
