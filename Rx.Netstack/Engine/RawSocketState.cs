using Rx.Netstack.Commands;
using Rx.Netstack.Engine;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Engine;

/// <summary>The engine's side of a raw IP socket: which packets it takes, its queue of received packets and its waiting receives.</summary>
internal sealed class RawSocketState : SocketState
{
    public RawSocketState(Netstack stack, int ipVersion, IpProtocol protocol, int bufferSize, int queueLength) : base(stack)
    {
        IpVersion = ipVersion;
        Protocol = protocol;
        Received = new PacketRing<byte>(bufferSize, queueLength);
    }

    public int IpVersion { get; }
    public IpProtocol Protocol { get; }
    public PacketRing<byte> Received { get; }
    public WaitQueue Receivers { get; } = new();

    public override void Flush(Instant now)
    {
        while (Received.TryPeek(out _, out ReadOnlySpan<byte> packet) && Receivers.DequeueClaimed() is { } request)
        {
            Stack.Deliver(request, MakeReply(request, packet));
            Received.Dequeue();
        }
    }

    public static Reply MakeReply(PendingRequest request, ReadOnlySpan<byte> packet)
    {
        int max = request.Command is Command.Raw.Receive { MaxLength: int m } ? m : int.MaxValue;
        bool truncated = packet.Length > max;
        return new Reply.RawPacket(packet[..Math.Min(max, packet.Length)].ToArray(), truncated, packet.Length);
    }

    public void Close()
    {
        IsClosed = true;
        Received.Release();
    }

    public override void FailAll(NetstackError error)
    {
        FailQueue(Receivers, error);
        Close();
    }
}
