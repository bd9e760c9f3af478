using Rx.Netstack.Commands;
using Rx.Netstack.Wire;

namespace Rx.Netstack.Engine;

/// <summary>Echo requests in flight, each waiting for its reply or its timeout.</summary>
internal sealed class Pinger(PassScheduler passes, int seed) : TimerOwner
{
    /// <summary>Echo requests sent and not yet answered or timed out, oldest first.</summary>
    private readonly List<(PendingRequest Request, NetAddress Destination, ushort Sequence, Instant SentAt)> _inFlight = [];

    /// <summary>The last sequence number given to a ping that did not choose its own.</summary>
    private ushort _nextSequence;

    public ushort Identifier { get; } = (ushort)(0x5258 ^ seed); // distinct per stack in one process; repeats with a RandomSeed

    public override Instant PollAt
    {
        get
        {
            Instant earliest = Instant.Never;
            foreach (var p in _inFlight) earliest = Instant.Min(earliest, p.Request.Deadline);
            return earliest;
        }
    }

    public ushort Register(PendingRequest request, Command.Icmp.Ping ping, Instant now)
    {
        ushort sequence = ping.SequenceNumber != 0 ? ping.SequenceNumber : ++_nextSequence;
        request.Deadline = now + ping.Timeout;
        _inFlight.Add((request, ping.Destination, sequence, now));
        return sequence;
    }

    public bool OnEchoReply(NetAddress from, in IcmpHeader header, int payloadSize, Instant now)
    {
        if (header.Identifier != Identifier) return false;
        for (int i = 0; i < _inFlight.Count; i++)
        {
            var p = _inFlight[i];
            if (p.Sequence != header.SequenceNumber || p.Destination != from) continue;
            _inFlight.RemoveAt(i);
            passes.Complete(p.Request, new Reply.PingReply(from, p.Sequence, payloadSize, now - p.SentAt));
            return true;
        }
        return false;
    }

    public override void OnTimer(Instant now)
    {
        for (int i = _inFlight.Count - 1; i >= 0; i--)
        {
            var p = _inFlight[i];
            if (p.Request.IsFinished) { _inFlight.RemoveAt(i); continue; }
            if (p.Request.Deadline > now) continue;
            _inFlight.RemoveAt(i);
            passes.Complete(p.Request, new Reply.Error(NetstackError.Of(NetstackErrorKind.TimedOut,
                $"No echo reply from {p.Destination} (sequence {p.Sequence}) within the timeout.")));
        }
    }

    public void FailAll(NetstackError error)
    {
        foreach (var p in _inFlight) passes.Complete(p.Request, new Reply.Error(error));
        _inFlight.Clear();
    }
}
