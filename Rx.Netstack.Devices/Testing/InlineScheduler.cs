using System.Reactive.Concurrency;
using System.Reactive.Disposables;

namespace Rx.Netstack.Testing;

/// <summary>
/// A scheduler for measuring the engine in steady state: immediate work runs inline on the caller's thread (queued only when
/// it arrives while other work runs, so nothing re-enters), timed work is kept and run when <see cref="Advance"/> passes its
/// due time, and the clock moves only when told. Inline work allocates nothing; timed and re-entrant work allocate an entry.
/// </summary>
internal sealed class InlineScheduler : IScheduler
{
    private readonly Queue<Action> _pending = new();
    private readonly List<(DateTimeOffset Due, Action Run, BooleanDisposable Cancel)> _timed = [];
    private bool _running;

    /// <inheritdoc />
    public DateTimeOffset Now { get; private set; } = new(2025, 1, 1, 0, 0, 0, TimeSpan.Zero);

    /// <inheritdoc />
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

    // In its own method: a lambda capturing parameters allocates its closure at method entry, even on paths that never use it.
    private void Defer<TState>(TState state, Func<IScheduler, TState, IDisposable> action) => _pending.Enqueue(() => action(this, state));

    /// <inheritdoc />
    public IDisposable Schedule<TState>(TState state, TimeSpan dueTime, Func<IScheduler, TState, IDisposable> action) =>
        Schedule(state, Now + dueTime, action);

    /// <inheritdoc />
    public IDisposable Schedule<TState>(TState state, DateTimeOffset dueTime, Func<IScheduler, TState, IDisposable> action)
    {
        var cancel = new BooleanDisposable();
        _timed.Add((dueTime, () => { if (!cancel.IsDisposed) action(this, state); }, cancel));
        return cancel;
    }

    /// <summary>Moves the clock by <paramref name="by"/> and runs the timed work that became due, in due order.</summary>
    public void Advance(TimeSpan by)
    {
        Now += by;
        for (int guard = 0; guard < 10_000; guard++)
        {
            int index = -1;
            for (int i = 0; i < _timed.Count; i++)
                if (_timed[i].Due <= Now && (index < 0 || _timed[i].Due < _timed[index].Due)) index = i;
            if (index < 0) return;
            var item = _timed[index];
            _timed.RemoveAt(index);
            Schedule(item.Run, static (_, run) => { run(); return Disposable.Empty; });
        }
    }
}
