using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Rx.Netstack.Commands;

namespace Rx.Netstack.Sockets;

/// <summary>Turns command replies into awaitable results: errors become <see cref="NetstackException"/>.</summary>
internal static class NetstackRequests
{
    /// <summary>Sends a command and awaits its reply; cancelling withdraws the request.</summary>
    public static async Task<Reply> RequestAsync(this Netstack stack, Command command, CancellationToken cancellationToken = default)
    {
        // SubmitAsync, not Execute(...).FirstAsync().ToTask(): the observable pipeline cost ~1 KB and several objects per command.
        Reply reply = await stack.SubmitAsync(command, cancellationToken).ConfigureAwait(false);
        return reply is Reply.Error error ? throw new NetstackException(error.Detail) : reply;
    }

    /// <summary>Sends a command and awaits a reply of type <typeparamref name="T"/>.</summary>
    public static async Task<T> RequestAsync<T>(this Netstack stack, Command command, CancellationToken cancellationToken = default) where T : Reply =>
        Expect<T>(await stack.SubmitAsync(command, cancellationToken).ConfigureAwait(false), command);

    /// <summary>The reply as a <typeparamref name="T"/>: an error reply becomes <see cref="NetstackException"/>.</summary>
    public static T Expect<T>(Reply reply, Command command) where T : Reply => reply switch
    {
        T typed => typed,
        Reply.Error error => throw new NetstackException(error.Detail),
        _ => throw new InvalidOperationException($"Expected {typeof(T).Name} for {command.GetType().Name}, got {reply.GetType().Name}."),
    };

    /// <summary>The reply as an observable value: errors become <c>OnError(NetstackException)</c>.</summary>
    public static IObservable<T> RequestObservable<T>(this Netstack stack, Command command) where T : Reply =>
        stack.Execute(command).Select(reply => reply switch
        {
            T typed => typed,
            Reply.Error error => throw new NetstackException(error.Detail),
            _ => throw new InvalidOperationException($"Expected {typeof(T).Name} for {command.GetType().Name}, got {reply.GetType().Name}."),
        });
}
