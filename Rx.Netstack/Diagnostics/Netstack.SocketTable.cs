using System.Reactive.Disposables;
using System.Reactive.Linq;
using Rx.Netstack.Diagnostics;
using Rx.Netstack.Engine;
using Rx.Netstack.Tcp;
using Rx.Netstack.Wire;

namespace Rx.Netstack;

public sealed partial class Netstack
{
    /// <summary>
    /// The live socket table as a change stream: each subscriber first gets one batch of <see cref="SocketTableChangeKind.Add"/>
    /// for every socket that exists, then a batch at the end of every engine pass in which sockets were added, removed or changed
    /// TCP state. Batches are delivered on the engine's scheduler (use <c>ObserveOn</c> for a UI thread). While nobody subscribes
    /// it costs nothing; while someone does, a pass costs only the sockets it touched. Completes when the stack is disposed.
    /// </summary>
    public IObservable<IReadOnlyList<SocketTableChange>> SocketTable => Observable.Create<IReadOnlyList<SocketTableChange>>(observer =>
    {
        var subscription = new SingleAssignmentDisposable();
        subscription.Disposable = Scheduler.Schedule((this, observer), static (_, state) =>
        {
            var (self, obs) = state;
            lock (self._passes.EngineLock)
            {
                if (self._passes.IsTornDown)
                {
                    obs.OnCompleted();
                    return Disposable.Empty;
                }
                if (self._sockets.Tracker is not { } tracker)
                {
                    tracker = self._sockets.Tracker = new SocketTableTracker(self.DescribeSocket);
                    tracker.Reset(self._sockets.All());
                }
                obs.OnNext(tracker.Snapshot());
                tracker.AddObserver(obs);
            }
            return Disposable.Empty;
        });
        return new CompositeDisposable(subscription, Disposable.Create((this, observer), static state =>
        {
            var (self, obs) = state;
            lock (self._passes.EngineLock)
            {
                if (self._sockets.Tracker is not { } tracker) return;
                tracker.RemoveObserver(obs);
                if (tracker.ObserverCount > 0) return;
                self._sockets.Tracker = null; // the last one left: stop tracking
            }
        }));
    });

    private SocketInfo DescribeSocket(SocketState socket) => socket switch
    {
        TcpStreamSocketState c => new SocketInfo(c.Handle, c.Tcb.Local, c.Tcb.Remote, c.Tcb.State, IpProtocol.Tcp, c.Tcb.Local.Address.Version),
        TcpListenerSocketState l => new SocketInfo(l.Handle, l.Local, null, TcpState.Listen, IpProtocol.Tcp, l.Local.Address.Version),
        UdpSocketState u => new SocketInfo(u.Handle, u.Local, null, null, IpProtocol.Udp, u.Local.Address.Version),
        RawSocketState r => new SocketInfo(r.Handle, default, null, null, r.Protocol, r.IpVersion),
        _ => new SocketInfo(socket.Handle, default, null, null, default, 0),
    };
}
