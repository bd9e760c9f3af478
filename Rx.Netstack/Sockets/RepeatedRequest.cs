using System.Reactive.Disposables;
using System.Reactive.Linq;
using Rx.Netstack.Commands;

namespace Rx.Netstack.Sockets;

/// <summary>The receive loop behind the socket observables (datagrams, raw packets, accepted connections).</summary>
internal static class RepeatedRequest
{
    /// <summary>
    /// Sends <paramref name="command"/>, and again each time its reply was a <typeparamref name="TReply"/> — only after
    /// <c>OnNext</c> returned, so a slow observer slows the loop instead of queueing replies. The socket closing completes the
    /// stream; any other error fails it with <see cref="NetstackException"/>. Disposing withdraws the pending request.
    /// </summary>
    public static IObservable<T> Loop<TReply, T>(Netstack stack, Command command, Func<TReply, T> select) where TReply : Reply =>
        Observable.Create<T>(observer =>
        {
            var current = new SerialDisposable();
            void Next()
            {
                current.Disposable = stack.Execute(command).Subscribe(reply =>
                {
                    switch (reply)
                    {
                        case TReply value:
                            observer.OnNext(select(value));
                            Next();
                            break;
                        case Reply.Error { Detail.Kind: NetstackErrorKind.SocketClosed or NetstackErrorKind.StaleHandle }:
                            observer.OnCompleted();
                            break;
                        case Reply.Error e:
                            observer.OnError(new NetstackException(e.Detail));
                            break;
                    }
                });
            }
            Next();
            return current;
        });
}
