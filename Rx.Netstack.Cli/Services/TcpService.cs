using System.Reactive.Subjects;
using System.Threading.Channels;
using Rx.Netstack.Commands;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tcp;

namespace Rx.Netstack.Cli.Services;

/// <summary>
/// A TCP service on a <see cref="Netstack"/>: listens on one port (IPv4 and/or IPv6), serves every accepted connection on the
/// thread pool with <see cref="HandleAsync"/>, and on <see cref="DisposeAsync"/> stops listening, cancels every handler and
/// closes its connection.
/// </summary>
public abstract class TcpService : IAsyncDisposable
{
    private static readonly TimeSpan StopPatience = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Connections a listener holds before the service accepts them. A thousand clients that connect at once must fit
    /// without SYN cookies: a cookie's ACK that meets a full accept queue is dropped (as Linux does), and the client's next
    /// segment, further on in sequence, no longer decodes the cookie and is reset. Linux caps listen() at somaxconn
    /// (4,096); Kestrel's default is 512.
    /// </summary>
    public const int Backlog = 1024;

    private readonly object _gate = new();
    private readonly HashSet<Task> _running = [];
    private readonly List<TcpConnectionListener> _listeners = [];
    private readonly List<IDisposable> _subscriptions = [];
    private readonly CancellationTokenSource _stopping = new();
    private readonly ReplaySubject<NetEndpoint> _closed = new(64);
    /// <summary>Log lines waiting for <see cref="_logging"/>: a handler may run on the engine's thread (the <c>tun</c> command's
    /// stack runs continuations inline), where a console that blocks must not stall the stack.</summary>
    private readonly Channel<string> _lines = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
    /// <summary>Writes <see cref="_lines"/> to <see cref="Log"/>, in order, on the thread pool.</summary>
    private readonly Task _logging;
    private long _served;
    private int _disposed;

    /// <summary>Creates the service; <see cref="StartAsync"/> starts it.</summary>
    /// <param name="name">Shown in logs ("echo", "discard" …).</param>
    /// <param name="port">The TCP port it listens on.</param>
    /// <param name="log">Where one-line events go (accepted, closed, failed); null for none.</param>
    protected TcpService(string name, ushort port, TextWriter? log)
    {
        Name = name;
        Port = port;
        Log = log ?? TextWriter.Null;
        _logging = log is null ? Task.CompletedTask : Task.Run(WriteLinesAsync);
    }

    /// <summary>The service's name.</summary>
    public string Name { get; }

    /// <summary>The port it listens on.</summary>
    public ushort Port { get; }

    /// <summary>Connections being served now.</summary>
    public int ActiveConnections { get { lock (_gate) return _running.Count; } }

    /// <summary>Connections accepted since start.</summary>
    public long ConnectionsServed => Interlocked.Read(ref _served);

    /// <summary>The peer of each connection whose handler ended and whose connection was closed (the last 64 are replayed).</summary>
    public IObservable<NetEndpoint> ConnectionsClosed => _closed;

    /// <summary>Where events are written.</summary>
    protected TextWriter Log { get; }

    /// <summary>Listens on <see cref="Port"/> of all IPv4 and/or IPv6 addresses of <paramref name="stack"/>.</summary>
    public async Task StartAsync(Netstack stack, bool ipv4 = true, bool ipv6 = true, TcpSettings? settings = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(stack);
        foreach (bool v6 in new[] { false, true })
        {
            if (v6 ? !ipv6 : !ipv4) continue;
            var listener = await stack.ListenTcpAsync(Port, v6, Backlog, settings, cancellationToken).ConfigureAwait(false);
            lock (_gate)
            {
                _listeners.Add(listener);
                _subscriptions.Add(listener.Accepted.Subscribe(OnAccepted, e => Write($"listener {listener.Local} failed: {e.Message}")));
            }
        }
    }

    /// <summary>Serves one connection; returning (or throwing) closes it. <paramref name="cancellationToken"/> fires when the service stops.</summary>
    protected abstract Task HandleAsync(TcpConnection connection, CancellationToken cancellationToken);

    /// <summary>Writes one line to the log, prefixed with the service's name (queued: the caller never waits for the console).</summary>
    protected void Write(string message)
    {
        if (Log != TextWriter.Null) _lines.Writer.TryWrite($"[{Name}/{Port}] {message}");
    }

    private async Task WriteLinesAsync()
    {
        await foreach (string line in _lines.Reader.ReadAllAsync().ConfigureAwait(false))
            lock (Log) Log.WriteLine(line);
    }

    private void OnAccepted(TcpConnection connection)
    {
        // Accepted connections arrive on the engine's scheduler: serve them on the thread pool.
        lock (_gate)
        {
            if (_stopping.IsCancellationRequested)
            {
                _ = connection.AbortAsync();
                return;
            }
            Interlocked.Increment(ref _served);
            var task = Task.Run(() => ServeAsync(connection));
            _running.Add(task);
            task.ContinueWith(static (t, state) =>
            {
                var self = (TcpService)state!;
                lock (self._gate) self._running.Remove(t);
            }, this, TaskScheduler.Default);
        }
    }

    private async Task ServeAsync(TcpConnection connection)
    {
        try
        {
            await HandleAsync(connection, _stopping.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            Write($"{connection.Remote}: closed because the service stops");
        }
        catch (NetstackException e) when (e.Kind is NetstackErrorKind.ConnectionReset or NetstackErrorKind.ConnectionAborted or NetstackErrorKind.TimedOut)
        {
            Write($"{connection.Remote}: {e.Kind}");
        }
        catch (Exception e)
        {
            Write($"{connection.Remote}: failed: {e.Message}");
            await connection.AbortAsync().ConfigureAwait(false);
        }
        finally
        {
            await connection.CloseAsync().ConfigureAwait(false);
            _closed.OnNext(connection.Remote);
        }
    }

    /// <summary>Stops listening, cancels every handler, closes their connections and waits (bounded) for the handlers to end.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        Task[] running;
        lock (_gate)
        {
            _stopping.Cancel();
            foreach (var subscription in _subscriptions) subscription.Dispose();
            running = [.. _running];
        }
        foreach (var listener in _listeners) await listener.DisposeAsync().ConfigureAwait(false);
        try
        {
            await Task.WhenAll(running).WaitAsync(StopPatience).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Write($"{running.Count(t => !t.IsCompleted)} connection(s) did not finish within {StopPatience.TotalSeconds} s");
        }
        _stopping.Dispose();
        _lines.Writer.TryComplete();
        await _logging.ConfigureAwait(false); // every line written before the service reports stopped
        GC.SuppressFinalize(this);
    }
}
