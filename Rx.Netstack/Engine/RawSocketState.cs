using Rx.Netstack.Commands;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Engine;

/// <summary>The engine's side of a raw IP socket: which packets it takes, its queue of received packets and its waiting receives.</summary>
internal sealed class RawSocketState : PacketSocketState<byte>
{
    public RawSocketState(PassScheduler passes, int ipVersion, IpProtocol protocol, int bufferSize, int queueLength) : base(passes, bufferSize, queueLength)
    {
        IpVersion = ipVersion;
        Protocol = protocol;
    }

    /// <summary>The IP version of the packets it takes and sends (4 or 6).</summary>
    public int IpVersion { get; }

    /// <summary>The protocol of the packets it takes and sends.</summary>
    public IpProtocol Protocol { get; }

    /// <summary>Answers waiting receives with queued packets, oldest first.</summary>
    public override void Flush(Instant now)
    {
        while (Received.TryPeek(out _, out ReadOnlySpan<byte> packet) && Receivers.DequeueClaimed() is { } request)
        {
            Passes.Deliver(request, MakeReply(request, packet));
            Received.Dequeue();
        }
    }

    /// <summary>The reply for a receive: a copy of the packet (the user keeps it), cut to the requested maximum.</summary>
    public static Reply MakeReply(PendingRequest request, ReadOnlySpan<byte> packet)
    {
        int max = request.Command is Command.Raw.Receive { MaxLength: int m } ? m : int.MaxValue;
        bool truncated = packet.Length > max;
        return new Reply.RawPacket(packet[..Math.Min(max, packet.Length)].ToArray(), truncated, packet.Length);
    }
}
