using Rx.Netstack.Commands;
using Rx.Netstack.Engine;

namespace Rx.Netstack;

public sealed partial class Netstack
{
    /// <summary>
    /// Submits <paramref name="command"/> and returns its reply as a task — the lean path under the friendly async API: one
    /// request, one task, no observable pipeline per command (see docs/benchmarks.md). Cancelling the token withdraws the
    /// request exactly as disposing an <see cref="Execute"/> subscription does. Continuations never run on the engine: they
    /// are queued to the thread pool, so application code after an <c>await</c> (a blocking <c>Stream.Read</c>, a slow handler)
    /// cannot stall or deadlock the stack — unless <see cref="NetstackOptions.RunContinuationsInline"/> asks for speed instead.
    /// </summary>
    /// <param name="command">The command.</param>
    /// <param name="cancellationToken">Withdraws the request while the engine has not taken it.</param>
    /// <param name="inline">Resume the awaiting code on the engine's thread whatever <see cref="NetstackOptions.RunContinuationsInline"/>
    /// says: for the library's own loops that never block (the duplex pipe's pumps), never for application code.</param>
    internal Task<Reply> SubmitAsync(Command command, CancellationToken cancellationToken, bool inline = false)
    {
        ArgumentNullException.ThrowIfNull(command);
        if (cancellationToken.IsCancellationRequested) return Task.FromCanceled<Reply>(cancellationToken);
        var completion = new ReplyCompletion(inline || Options.RunContinuationsInline);
        var request = new PendingRequest(NextRequestId(), command, completion);
        if (cancellationToken.CanBeCanceled) completion.CancelWith(_passes, request, cancellationToken);
        Route(request);
        return completion.Task;
    }

    /// <summary>A task completed by the request's one reply; it is the request's reply observer too (one object, not two).</summary>
    private sealed class ReplyCompletion : TaskCompletionSource<Reply>, IObserver<Reply>
    {
        private CancellationTokenRegistration _registration;

        public ReplyCompletion(bool inline) : base(inline ? TaskCreationOptions.None : TaskCreationOptions.RunContinuationsAsynchronously) { }

        public void CancelWith(PassScheduler passes, PendingRequest request, CancellationToken token)
        {
            _registration = token.UnsafeRegister(static (state, token) =>
            {
                var (passes, request, completion) = ((PassScheduler, PendingRequest, ReplyCompletion))state!;
                // Only a withdrawn request is cancelled: one the engine claimed first (its bytes may be in the caller's buffer
                // already) completes with its reply instead, so no data is lost to a late cancellation.
                if (passes.Cancel(request)) completion.TrySetCanceled(token);
            }, (passes, request, this));
        }

        public void OnNext(Reply value)
        {
            _registration.Dispose();
            TrySetResult(value);
        }

        public void OnError(Exception error)
        {
            _registration.Dispose();
            TrySetException(error);
        }

        public void OnCompleted() { }
    }
}
