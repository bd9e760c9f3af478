using System.Reactive.Linq;
using Rx.Netstack.Commands;

namespace Rx.Netstack.Sockets;

/// <summary>ICMP echo ("ping") on a stack.</summary>
public static class PingExtensions
{
    /// <summary>
    /// Sends one echo request; the observable yields the reply (round-trip time measured on the stack's scheduler) or fails
    /// with <see cref="NetstackException"/> of kind <see cref="NetstackErrorKind.TimedOut"/>.
    /// </summary>
    public static IObservable<Reply.PingReply> Ping(this Netstack stack, NetAddress destination, int payloadSize = 56, TimeSpan? timeout = null, ushort sequenceNumber = 0)
    {
        ArgumentNullException.ThrowIfNull(stack);
        return stack.RequestObservable<Reply.PingReply>(new Command.Icmp.Ping(destination, payloadSize, timeout ?? TimeSpan.FromSeconds(1), sequenceNumber));
    }

    /// <summary>
    /// Pings <paramref name="count"/> times, one request every <paramref name="interval"/> on the stack's scheduler; each result is
    /// the reply or the failure (a timeout does not end the series).
    /// </summary>
    public static IObservable<PingResult> PingSeries(this Netstack stack, NetAddress destination, int count, TimeSpan interval, int payloadSize = 56, TimeSpan? timeout = null)
    {
        ArgumentNullException.ThrowIfNull(stack);
        return Observable.Interval(interval, stack.Scheduler).StartWith(stack.Scheduler, -1).Take(count)
            .Select((_, i) => stack.Ping(destination, payloadSize, timeout, (ushort)(i + 1))
                .Select(r => new PingResult((ushort)(i + 1), r, null))
                .Catch((NetstackException e) => Observable.Return(new PingResult((ushort)(i + 1), null, e.Error))))
            .Merge();
    }

    /// <summary>Sends one echo request and awaits its reply.</summary>
    public static Task<Reply.PingReply> PingAsync(this Netstack stack, NetAddress destination, int payloadSize = 56, TimeSpan? timeout = null, CancellationToken cancellationToken = default) =>
        stack.RequestAsync<Reply.PingReply>(new Command.Icmp.Ping(destination, payloadSize, timeout ?? TimeSpan.FromSeconds(1)), cancellationToken);
}

/// <summary>One ping of a series: the reply, or why there was none.</summary>
/// <param name="SequenceNumber">The echo sequence number.</param>
/// <param name="Reply">The reply, when one came.</param>
/// <param name="Error">The error (usually a timeout), when none came.</param>
public sealed record PingResult(ushort SequenceNumber, Reply.PingReply? Reply, NetstackError? Error);
