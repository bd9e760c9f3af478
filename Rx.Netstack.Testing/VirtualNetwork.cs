using System.Buffers.Binary;
using System.Reactive.Concurrency;
using System.Reactive.Linq;
using Rx.Netstack.Devices;

namespace Rx.Netstack.Testing;

/// <summary>
/// A network in a test: any number of <see cref="Netstack"/>s on one scheduler you give (a <c>TestScheduler</c> for
/// deterministic, virtual-time tests), each joined to a switch by its own link that may be impaired (loss, delay, reordering …,
/// see <see cref="ImpairmentOptions"/>). The switch forwards each IP packet to the stack that owns its destination address, so
/// stacks talk to each other over TCP, UDP, ICMP or raw IP exactly as over a real LAN — and the same seed and traffic give the
/// same run, every time.
/// </summary>
/// <remarks>
/// The friendly socket API returns tasks; <see cref="Run{T}(Task{T}, TimeSpan?)"/> advances virtual time until such a task
/// completes. Stacks that run continuations inline (<see cref="NetstackOptions.RunContinuationsInline"/>, as
/// <see cref="AddStack(string, string[])"/> makes them) complete it on the test's thread in virtual time; continuations that
/// still go to the thread pool (the stack's without it, or code awaited under a test framework's synchronization context)
/// are given a bounded moment to settle before each step. The observable API runs on the scheduler itself and needs no
/// help; <see cref="Marbles"/> writes its tests as diagrams.
/// </remarks>
public sealed class VirtualNetwork : IDisposable
{
    private readonly List<Port> _ports = [];
    private readonly object _gate = new();
    private long _unroutable;

    /// <summary>Creates an empty network whose stacks and links run on <paramref name="scheduler"/>.</summary>
    public VirtualNetwork(IScheduler scheduler)
    {
        ArgumentNullException.ThrowIfNull(scheduler);
        Scheduler = scheduler;
    }

    /// <summary>The scheduler of every stack and link: their only clock.</summary>
    public IScheduler Scheduler { get; }

    /// <summary>The stacks, in the order they were added.</summary>
    public IReadOnlyList<Netstack> Stacks
    {
        get { lock (_gate) return _ports.Select(p => p.Stack).ToArray(); }
    }

    /// <summary>The stack added under <paramref name="name"/>.</summary>
    /// <exception cref="KeyNotFoundException">No stack has that name.</exception>
    public Netstack this[string name] => FindPort(name).Stack;

    /// <summary>Packets the switch dropped because no stack owns their destination address.</summary>
    public long Unroutable => Interlocked.Read(ref _unroutable);

    /// <summary>
    /// Adds a stack with addresses such as "10.0.0.1/24" and "fd00::1/64", on a perfect link. Its async API resumes inline
    /// (<see cref="NetstackOptions.RunContinuationsInline"/>): in virtual time everything runs on the test's thread, so an
    /// awaited operation completes in the step that answered it instead of racing the thread pool.
    /// </summary>
    public Netstack AddStack(string name, params string[] addresses) =>
        AddStack(name, new NetstackOptions { Addresses = addresses.Select(InterfaceAddress.Parse).ToArray(), RunContinuationsInline = true });

    /// <summary>Adds a stack built from <paramref name="options"/>, joined to the switch by a link with <paramref name="impairment"/>
    /// in both directions (each direction draws its own random numbers from <paramref name="seed"/>).</summary>
    /// <param name="name">A name to find the stack by.</param>
    /// <param name="options">The stack's options (its addresses route packets to it).</param>
    /// <param name="impairment">What the link does to frames, both ways; null for a perfect link.</param>
    /// <param name="mtu">The link's MTU (the stack's MTU becomes this).</param>
    /// <param name="seed">Seed of the link's random decisions.</param>
    public Netstack AddStack(string name, NetstackOptions options, ImpairmentOptions? impairment = null, int mtu = 1500, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(options);
        lock (_gate)
            if (_ports.Any(p => p.Name == name)) throw new ArgumentException($"A stack named '{name}' is already on the network.", nameof(name));
        var stack = new Netstack(options, Scheduler);
        (PipeDevice stackEnd, PipeDevice switchEnd) = PipeDevice.CreatePair(mtu);
        ImpairedLink? link = impairment is null || impairment.IsNone ? null : new ImpairedLink(switchEnd, Scheduler, impairment, impairment, seed);
        IPacketDevice switchSide = (IPacketDevice?)link ?? switchEnd;
        var port = new Port(name, stack, stackEnd, switchEnd, link, switchSide);
        port.Subscription = switchSide.Received.Subscribe(frame => Forward(port, frame));
        lock (_gate) _ports.Add(port);
        stack.Attach(stackEnd);
        return stack;
    }

    /// <summary>
    /// The IP packets stack <paramref name="name"/> sends, as they leave it (before its link impairs them), each a copy, on
    /// the network's scheduler: while subscribed, whether the switch can route them or not. Record them to see what a stack
    /// put on the wire and when, such as the retransmissions of a SYN nobody answers.
    /// </summary>
    /// <exception cref="KeyNotFoundException">No stack has that name.</exception>
    public IObservable<byte[]> PacketsFrom(string name)
    {
        Port port = FindPort(name);
        return port.SwitchEnd.Received.Select(packet => packet.ToArray());
    }

    /// <summary>What the link of stack <paramref name="name"/> did to frames: toward the stack (<c>Outbound</c>) and from it
    /// (<c>Inbound</c>); null for a perfect link.</summary>
    public ImpairedLink? LinkOf(string name) => FindPort(name).Link;

    /// <summary>
    /// Advances virtual time (when <see cref="Scheduler"/> is a virtual-time scheduler such as <c>TestScheduler</c>) until
    /// <paramref name="task"/> completes, at most <paramref name="limit"/> of virtual time (default 60 s); on a real-time
    /// scheduler, waits at most that long. Returns the result or rethrows the failure.
    /// </summary>
    /// <exception cref="TimeoutException">The task did not complete in time.</exception>
    public T Run<T>(Task<T> task, TimeSpan? limit = null)
    {
        Run((Task)task, limit);
        return task.GetAwaiter().GetResult();
    }

    /// <inheritdoc cref="Run{T}(Task{T}, TimeSpan?)"/>
    public void Run(Task task, TimeSpan? limit = null)
    {
        ArgumentNullException.ThrowIfNull(task);
        TimeSpan max = limit ?? TimeSpan.FromSeconds(60);
        if (Scheduler is VirtualTimeSchedulerBase<long, long> virtualTime)
        {
            long end = virtualTime.Clock + max.Ticks;
            long step = TimeSpan.FromMilliseconds(1).Ticks;
            // Timers and cancellations that virtual time fires complete tasks on this thread, outside any pass: without the
            // caller's SynchronizationContext (a test framework's) their continuations may run inline here, as the stacks'
            // RunContinuationsInline intends, instead of being queued to the thread pool where they race virtual time.
            SynchronizationContext? context = SynchronizationContext.Current;
            SynchronizationContext.SetSynchronizationContext(null);
            try
            {
                virtualTime.AdvanceBy(1);
                // Continuations that still run on the thread pool: before each step of virtual time, let them settle
                // (bounded), so virtual time does not race ahead of work that real threads still have to do.
                while (!Settle(task))
                {
                    if (virtualTime.Clock >= end) throw new TimeoutException($"The task did not complete within {max} of virtual time.");
                    virtualTime.AdvanceBy(step);
                }
            }
            finally
            {
                SynchronizationContext.SetSynchronizationContext(context);
            }
        }
        else if (!task.Wait(max))
        {
            throw new TimeoutException($"The task did not complete within {max}.");
        }
        task.GetAwaiter().GetResult();
    }

    /// <summary>Waits until the task completed or the thread pool is quiet (nothing queued, nothing finished lately), at most 5 ms.</summary>
    private static bool Settle(Task task)
    {
        long completed = -1;
        SpinWait.SpinUntil(() =>
        {
            if (task.IsCompleted) return true;
            long now = ThreadPool.CompletedWorkItemCount;
            bool quiet = ThreadPool.PendingWorkItemCount == 0 && now == completed;
            completed = now;
            return quiet;
        }, TimeSpan.FromMilliseconds(5));
        return task.IsCompleted;
    }

    /// <summary>Disposes every stack and link.</summary>
    public void Dispose()
    {
        Port[] ports;
        lock (_gate)
        {
            ports = [.. _ports];
            _ports.Clear();
        }
        foreach (Port port in ports)
        {
            port.Subscription?.Dispose();
            port.Stack.Dispose();
            port.Link?.Dispose();
            port.StackEnd.Dispose();
            port.SwitchEnd.Dispose();
        }
    }

    private Port FindPort(string name)
    {
        lock (_gate) return _ports.FirstOrDefault(p => p.Name == name) ?? throw new KeyNotFoundException($"No stack named '{name}' is on the network.");
    }

    /// <summary>Sends a frame from <paramref name="from"/> to the port whose stack owns the destination (the frame is borrowed: sent synchronously).</summary>
    private void Forward(Port from, ReadOnlyMemory<byte> frame)
    {
        if (!TryReadDestination(frame.Span, out NetAddress destination))
        {
            Interlocked.Increment(ref _unroutable);
            return;
        }
        Port[] ports;
        lock (_gate) ports = [.. _ports];
        foreach (Port port in ports)
        {
            if (port == from || !Owns(port.Stack, destination)) continue;
            port.SwitchSide.Transmit.OnNext(frame);
            return;
        }
        Interlocked.Increment(ref _unroutable);
    }

    private static bool Owns(Netstack stack, NetAddress address)
    {
        IReadOnlyList<InterfaceAddress> addresses = stack.Addresses;
        for (int i = 0; i < addresses.Count; i++)
            if (addresses[i].Address == address) return true;
        return false;
    }

    private static bool TryReadDestination(ReadOnlySpan<byte> packet, out NetAddress destination)
    {
        destination = default;
        if (packet.IsEmpty) return false;
        switch (packet[0] >> 4)
        {
            case 4 when packet.Length >= 20:
                destination = NetAddress.V4(BinaryPrimitives.ReadUInt32BigEndian(packet[16..]));
                return true;
            case 6 when packet.Length >= 40:
                destination = NetAddress.ReadV6(packet[24..]);
                return true;
            default:
                return false;
        }
    }

    private sealed record Port(string Name, Netstack Stack, PipeDevice StackEnd, PipeDevice SwitchEnd, ImpairedLink? Link, IPacketDevice SwitchSide)
    {
        public IDisposable? Subscription { get; set; }
    }
}
