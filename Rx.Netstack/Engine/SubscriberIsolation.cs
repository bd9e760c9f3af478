using System.Reactive.Linq;

namespace Rx.Netstack.Engine;

/// <summary>
/// Keeps one subscriber's fault to itself on a stream shared by several (the tap, a UDP socket's datagrams, a listener's
/// accepted connections): a subscriber whose <c>OnNext</c> throws is counted as a subscriber fault and cut off, while the
/// source and every other subscriber go on. Without it the exception would unwind into the shared source (a subject or a
/// published receive loop) and stop it for everyone.
/// </summary>
internal static class SubscriberIsolation
{
    public static IObservable<T> IsolateSubscribers<T>(this IObservable<T> source, Netstack stack) =>
        Observable.Create<T>(observer =>
        {
            var isolated = new IsolatedObserver<T>(observer, stack);
            isolated.Subscription = source.Subscribe(isolated);
            return isolated;
        });

    private sealed class IsolatedObserver<T>(IObserver<T> inner, Netstack stack) : IObserver<T>, IDisposable
    {
        private volatile bool _stopped;
        public IDisposable? Subscription;

        public void OnNext(T value)
        {
            if (_stopped) return;
            try
            {
                inner.OnNext(value);
            }
            catch (Exception)
            {
                _stopped = true;
                stack.CountSubscriberFault();
                Subscription?.Dispose();
            }
        }

        public void OnError(Exception error)
        {
            if (_stopped) return;
            _stopped = true;
            try { inner.OnError(error); } catch (Exception) { stack.CountSubscriberFault(); }
        }

        public void OnCompleted()
        {
            if (_stopped) return;
            _stopped = true;
            try { inner.OnCompleted(); } catch (Exception) { stack.CountSubscriberFault(); }
        }

        public void Dispose()
        {
            _stopped = true;
            Subscription?.Dispose();
        }
    }
}
