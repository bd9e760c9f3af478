using System.Reactive.Concurrency;
using System.Reactive.Disposables;

namespace Rx.Netstack.Tests.Performance;

/// <summary>
/// Runs immediate work inline (queued only when it arrives while other work runs); keeps timed work without running it; the
/// clock stands still. The inline path allocates nothing, so what a test measures is the engine's own allocation.
/// </summary>
internal sealed class InlineScheduler : IScheduler
{
    private readonly Queue<Action> _pending = new();
    private bool _running;

    public DateTimeOffset Now { get; } = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public IDisposable Schedule<TState>(TState state, Func<IScheduler, TState, IDisposable> action)
    {
        if (_running)
        {
            Defer(state, action);
            return Disposable.Empty;
        }
        _running = true;
        try
        {
            action(this, state);
            while (_pending.TryDequeue(out Action? next)) next();
        }
        finally
        {
            _running = false;
        }
        return Disposable.Empty;
    }

    // Its own method: a lambda capturing parameters allocates its closure at method entry, even on paths that never use it.
    private void Defer<TState>(TState state, Func<IScheduler, TState, IDisposable> action) => _pending.Enqueue(() => action(this, state));

    public IDisposable Schedule<TState>(TState state, TimeSpan dueTime, Func<IScheduler, TState, IDisposable> action) => Disposable.Empty;

    public IDisposable Schedule<TState>(TState state, DateTimeOffset dueTime, Func<IScheduler, TState, IDisposable> action) => Disposable.Empty;
}
