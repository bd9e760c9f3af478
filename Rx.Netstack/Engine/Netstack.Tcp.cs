using Rx.Netstack.Commands;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Engine;
using Rx.Netstack.Wire;
using TcpWire = Rx.Netstack.Wire.Tcp;

namespace Rx.Netstack;

public sealed partial class Netstack
{
    private void ProcessTcp(in IpInfo ip, ReadOnlySpan<byte> packet, ReadOnlySpan<byte> segment, Instant now)
    {
        if (TcpWire.TryParse(segment, ip.Source, ip.Destination, out TcpHeader header, out ReadOnlySpan<byte> payload) != WireError.None)
        {
            _counters.Drop(DropReason.TcpMalformed);
            return;
        }
        _counters.TcpIn++;
        _counters.Drop(DropReason.TcpNoConnection);
    }

    private void OnTcpIcmpError(NetEndpoint local, NetEndpoint remote, bool v6, in IcmpHeader header, ReadOnlySpan<byte> transport, Instant now)
    {
        _counters.Drop(DropReason.IcmpIgnored);
    }

    private void ExecuteTcpListen(PendingRequest request, Command.TcpListen command, Instant now) =>
        Fail(request, NetstackError.Bad(BadRequestReason.InvalidState, "TCP is not available yet."));

    private void ExecuteTcpStream(PendingRequest request, Command.TcpStream command, Instant now) =>
        Fail(request, NetstackError.Bad(BadRequestReason.InvalidState, "TCP is not available yet."));
}

public sealed partial class Netstack
{
    private Dictionary<string, int> ConnectionsByState() => [];
    private long TcpRetransmissions() => 0;
}
