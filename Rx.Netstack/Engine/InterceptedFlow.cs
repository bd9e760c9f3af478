namespace Rx.Netstack.Engine;

/// <summary>
/// What makes a UDP socket an intercepted flow: the client it talks to, the interceptor it came from, and when it last
/// carried a datagram. The idle deadline moves with each datagram without touching the timer queue: when the old deadline
/// comes, the timer queue finds the later one and waits for it (<see cref="TimerQueue.RunDue"/>).
/// </summary>
internal sealed class InterceptedFlow(UdpInterceptorSocketState interceptor, NetEndpoint remote, Instant now)
{
    /// <summary>The interceptor that opened it (its caps and idle timeout).</summary>
    public UdpInterceptorSocketState Interceptor { get; } = interceptor;

    /// <summary>The client: the only destination the flow sends to.</summary>
    public NetEndpoint Remote { get; } = remote;

    /// <summary>When a datagram last arrived from the client or left for it.</summary>
    public Instant LastActivity { get; set; } = now;

    /// <summary>True until the application took the flow with a <c>Next</c>.</summary>
    public bool Untaken { get; set; } = true;
}
