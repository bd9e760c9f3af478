using Microsoft.Reactive.Testing;
using Rx.Netstack;
using Rx.Netstack.Devices;

namespace Rx.Netstack.Tests.Support;

/// <summary>Two stacks joined by a synchronous pipe on one <see cref="TestScheduler"/>: A is 10.0.0.1 / fd00::1, B is 10.0.0.2 / fd00::2,
/// with <see cref="NetstackOptions.RunContinuationsInline"/> (deterministic awaits in virtual time).</summary>
public sealed class StackPair : IDisposable
{
    public static readonly NetAddress A4 = NetAddress.Parse("10.0.0.1"), B4 = NetAddress.Parse("10.0.0.2");
    public static readonly NetAddress A6 = NetAddress.Parse("fd00::1"), B6 = NetAddress.Parse("fd00::2");

    public StackPair(int mtu = 1500, Func<NetstackOptions, NetstackOptions>? configure = null, ChecksumOffload checksumOffload = ChecksumOffload.None)
    {
        Scheduler = new TestScheduler();
        configure ??= o => o;
        // Everything runs on the test's thread under virtual time, so the async API's continuations run inline too: a task
        // completes within the step of virtual time that answered it, instead of racing the thread pool.
        A = new Netstack(configure(new NetstackOptions { Addresses = [new(A4, 24), new(A6, 64)], RunContinuationsInline = true }), Scheduler);
        B = new Netstack(configure(new NetstackOptions { Addresses = [new(B4, 24), new(B6, 64)], RunContinuationsInline = true }), Scheduler);
        (DeviceA, DeviceB) = PipeDevice.CreatePair(mtu, checksumOffload: checksumOffload);
        A.Attach(DeviceA);
        B.Attach(DeviceB);
    }

    public TestScheduler Scheduler { get; }
    public Netstack A { get; }
    public Netstack B { get; }
    public PipeDevice DeviceA { get; }
    public PipeDevice DeviceB { get; }

    public void Dispose()
    {
        A.Dispose();
        B.Dispose();
    }
}
