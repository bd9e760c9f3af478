using System.Reactive.Linq;
using System.Reactive.Threading.Tasks;
using Rx.Netstack.Commands;

namespace Rx.Netstack.Sockets;

/// <summary>Turns command replies into awaitable results: errors become <see cref="NetstackException"/>.</summary>
internal static class NetstackRequests
{
    /// <summary>How long a loop that was refused for now (<see cref="IsTransient(Reply)"/>) waits before it asks again.</summary>
    public static readonly TimeSpan TransientRetryDelay = TimeSpan.FromMilliseconds(10);

    /// <summary>
    /// True for an error that says "not now" rather than "never": the command queue was past its hard limit. Loops that
    /// must outlive overload (accept loops, receive loops) ask again after <see cref="TransientRetryDelay"/>.
    /// </summary>
    public static bool IsTransient(Reply reply) => reply is Reply.Error error && IsTransient(error.Detail.Kind);

    /// <inheritdoc cref="IsTransient(Reply)"/>
    public static bool IsTransient(NetstackException exception) => IsTransient(exception.Kind);

    private static bool IsTransient(NetstackErrorKind kind) => kind == NetstackErrorKind.CommandQueueFull;

    /// <summary>Waits <see cref="TransientRetryDelay"/> on the stack's clock (virtual under a test scheduler).</summary>
    public static Task PauseAfterRefusalAsync(this Netstack stack, CancellationToken cancellationToken) =>
        Observable.Timer(TransientRetryDelay, stack.Scheduler).ToTask(cancellationToken);

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
