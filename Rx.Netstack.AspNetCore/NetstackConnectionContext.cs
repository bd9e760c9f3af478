using System.IO.Pipelines;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.AspNetCore.Http.Features;
using Rx.Netstack.Sockets;

namespace Rx.Netstack.AspNetCore;

/// <summary>
/// One accepted TCP connection as Kestrel sees it: <see cref="Transport"/> is a <see cref="TcpDuplexPipe"/> whose pumps carry
/// bytes between the pipes and the connection, with back-pressure both ways. The connection itself is a feature
/// (<see cref="INetstackConnectionFeature"/>), so middleware can read its RTT or window.
/// </summary>
internal sealed class NetstackConnectionContext : ConnectionContext, IConnectionIdFeature, IConnectionTransportFeature, IConnectionItemsFeature,
    IConnectionLifetimeFeature, IConnectionEndPointFeature, INetstackConnectionFeature
{
    private readonly TcpDuplexPipe _pipe;
    private readonly CancellationTokenSource _closed = new();
    private readonly FeatureCollection _features = new();
    private int _disposed;

    public NetstackConnectionContext(TcpConnection connection, NetstackTransportOptions options)
    {
        Connection = connection;
        ConnectionId = $"netstack-{connection.Stack.Id}-{connection.Handle.Index}.{connection.Handle.Generation}";
        _pipe = connection.AsDuplexPipe(
            new PipeOptions(pauseWriterThreshold: options.MaxReadBufferSize, resumeWriterThreshold: options.MaxReadBufferSize / 2, useSynchronizationContext: false),
            new PipeOptions(pauseWriterThreshold: options.MaxWriteBufferSize, resumeWriterThreshold: options.MaxWriteBufferSize / 2, useSynchronizationContext: false));
        Transport = _pipe;
        LocalEndPoint = connection.Local.ToIPEndPoint();
        RemoteEndPoint = connection.Remote.ToIPEndPoint();
        _features.Set<IConnectionIdFeature>(this);
        _features.Set<IConnectionTransportFeature>(this);
        _features.Set<IConnectionItemsFeature>(this);
        _features.Set<IConnectionLifetimeFeature>(this);
        _features.Set<IConnectionEndPointFeature>(this);
        _features.Set<INetstackConnectionFeature>(this);
        // ConnectionClosed fires when both directions are done (peer finished or reset, our side completed or aborted).
        _ = _pipe.Completion.ContinueWith(static (_, state) => ((NetstackConnectionContext)state!).FireClosed(), this,
            CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    public TcpConnection Connection { get; }

    public override string ConnectionId { get; set; }

    public override IFeatureCollection Features => _features;

    public override IDictionary<object, object?> Items { get; set; } = new ConnectionItems();

    public override IDuplexPipe Transport { get; set; }

    public override CancellationToken ConnectionClosed
    {
        get => _closed.Token;
        set => throw new NotSupportedException("The transport owns the connection-closed token.");
    }

    public override EndPoint? LocalEndPoint { get; set; }

    public override EndPoint? RemoteEndPoint { get; set; }

    public override void Abort(ConnectionAbortedException abortReason) => _ = _pipe.AbortAsync();

    private void FireClosed()
    {
        try { _closed.Cancel(); }
        catch (ObjectDisposedException) { /* disposed first */ }
        catch (AggregateException) { /* a callback failed: not the transport's concern */ }
    }

    public override async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        await _pipe.DisposeAsync().ConfigureAwait(false);
        FireClosed();
        _closed.Dispose();
        await base.DisposeAsync().ConfigureAwait(false);
    }
}
