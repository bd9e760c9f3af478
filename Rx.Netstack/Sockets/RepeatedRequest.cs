using System.Reactive.Concurrency;
using System.Reactive.Disposables;
using System.Reactive.Linq;
using Rx.Netstack.Commands;

namespace Rx.Netstack.Sockets;

/// <summary>The receive loop behind the socket observables (datagrams, raw packets, accepted connections, TCP chunks).</summary>
internal static class RepeatedRequest
{
    /// <summary>
    /// Sends <paramref name="command"/>, and again each time its reply was a <typeparamref name="TReply"/> — only after
    /// <c>OnNext</c> returned, so a slow observer slows the loop instead of queueing replies. <paramref name="isEnd"/> replies
    /// complete the stream (by default: the socket was closed); a transient refusal (<see cref="NetstackErrorKind.CommandQueueFull"/>)
    /// is asked again after a short pause; any other error fails it with <see cref="NetstackException"/>.
    /// <paramref name="isSkipped"/> replies are passed over and the command sent again. Disposing withdraws the pending request. With a <paramref name="scheduler"/>, notifications are delivered there
    /// instead of on the thread that completed the request.
    /// </summary>
    public static IObservable<T> Loop<TReply, T>(Netstack stack, Command command, Func<TReply, T> select,
        IScheduler? scheduler = null, Func<Reply, bool>? isEnd = null, Func<Reply, bool>? isSkipped = null) where TReply : Reply =>
        Observable.Create<T>(observer =>
        {
            isEnd ??= static reply => reply is Reply.Error { Detail.Kind: NetstackErrorKind.SocketClosed or NetstackErrorKind.StaleHandle };
            var current = new SerialDisposable();
            void Next()
            {
                // The slot becomes current *before* the request is sent: its reply may arrive — and its handler call Next()
                // again — on another thread (or on this one, when the pass runs on the caller) before Subscribe returns.
                // Assigning the subscription afterwards would then replace, and cancel, the newer pending request.
                var slot = new SingleAssignmentDisposable();
                current.Disposable = slot;
                if (current.IsDisposed) return;
                IObservable<Reply> reply = stack.Execute(command);
                if (scheduler is not null) reply = reply.Take(1).ObserveOn(scheduler);
                slot.Disposable = reply.Subscribe(r => Handle(r));
            }

            void Handle(Reply reply)
            {
                try
                {
                    if (reply is TReply value)
                    {
                        observer.OnNext(select(value));
                        Next(); // only now: the value was handled, ask for the next one
                    }
                    else if (isEnd(reply)) observer.OnCompleted();
                    else if (isSkipped?.Invoke(reply) == true) Next();
                    else if (NetstackRequests.IsTransient(reply))
                    {
                        // Refused for now (a runaway producer filled the command queue): ask again a little later on the
                        // stack's clock instead of failing the stream — a listener must outlive a moment of overload.
                        var slot = new SingleAssignmentDisposable();
                        current.Disposable = slot;
                        slot.Disposable = stack.Scheduler.Schedule(NetstackRequests.TransientRetryDelay, Next);
                    }
                    else if (reply is Reply.Error e) observer.OnError(new NetstackException(e.Detail));
                }
                catch (Exception)
                {
                    // A throwing subscriber hurts only itself: it is cut off and counted, the engine goes on.
                    current.Dispose();
                    stack.CountSubscriberFault();
                }
            }

            Next();
            return current;
        });
}
