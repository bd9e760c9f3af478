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
/// Everything runs on the network's scheduler: on a virtual-time scheduler (a <c>TestScheduler</c>) every stack resumes its
/// async continuations inline (<see cref="NetstackOptions.RunContinuationsInline"/> is set for you) and
/// <see cref="Sockets.TcpConnection.Received"/> delivers on that scheduler, so no work goes to the thread pool and a test takes as
/// long as its CPU work, however loaded the machine. The friendly API returns tasks: <see cref="Run{T}(Task{T}, TimeSpan?)"/>
/// advances virtual time until one completes. Start your own async code with <see cref="Run(Func{Task}, TimeSpan?)"/>:
/// it runs without the caller's synchronization context (a test framework's would send its continuations to other
/// threads), so its awaits resume in virtual time too. The observable API needs no help; <see cref="Marbles"/> writes its
/// tests as diagrams.
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
    /// <param name="seed">Seed of the link's random decisions, and with the name of the stack's own
    /// (<see cref="NetstackOptions.RandomSeed"/>, unless <paramref name="options"/> sets one).</param>
    public Netstack AddStack(string name, NetstackOptions options, ImpairmentOptions? impairment = null, int mtu = 1500, int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(options);
        lock (_gate)
            if (_ports.Any(p => p.Name == name)) throw new ArgumentException($"A stack named '{name}' is already on the network.", nameof(name));
        // In virtual time every continuation runs on the test's thread: the thread pool would race the virtual clock.
        if (Scheduler is VirtualTimeSchedulerBase<long, long> && !options.RunContinuationsInline)
            options = options with { RunContinuationsInline = true };
        // Same name and seed, same sequence numbers and ports: a run repeats byte for byte.
        if (options.RandomSeed is null) options = options with { RandomSeed = StableHash(name) ^ seed };
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
                while (!task.IsCompleted)
                {
                    if (virtualTime.Clock >= end)
                        throw new TimeoutException($"The task did not complete within {max} of virtual time." + (context is null ? "" :
                            " If it awaits inside code started under the test framework's synchronization context, start that code " +
                            "with network.Start(…) or network.Run(async () => …) so its awaits resume in virtual time."));
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

    /// <summary>
    /// Starts <paramref name="body"/> without the caller's synchronization context, so each of its awaits resumes in virtual
    /// time on this thread, and advances virtual time until it completes (see <see cref="Run{T}(Task{T}, TimeSpan?)"/>).
    /// </summary>
    /// <exception cref="TimeoutException">The body did not complete in time.</exception>
    public T Run<T>(Func<Task<T>> body, TimeSpan? limit = null)
    {
        ArgumentNullException.ThrowIfNull(body);
        return Run(StartWithoutContext(body), limit);
    }

    /// <inheritdoc cref="Run{T}(Func{Task{T}}, TimeSpan?)"/>
    public void Run(Func<Task> body, TimeSpan? limit = null)
    {
        ArgumentNullException.ThrowIfNull(body);
        Run(StartWithoutContext(body), limit);
    }

    /// <summary>
    /// Starts <paramref name="body"/> without the caller's synchronization context and returns its task, for a test that
    /// does more before it <see cref="Run{T}(Task{T}, TimeSpan?)"/>s it: a task started under a test framework's context
    /// would resume on other threads, at a virtual time nobody can predict.
    /// </summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822", Justification = "Read as network.Start(…) beside network.Run(…).")]
    public Task<T> Start<T>(Func<Task<T>> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        return StartWithoutContext(body);
    }

    /// <inheritdoc cref="Start{T}(Func{Task{T}})"/>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Performance", "CA1822", Justification = "Read as network.Start(…) beside network.Run(…).")]
    public Task Start(Func<Task> body)
    {
        ArgumentNullException.ThrowIfNull(body);
        return StartWithoutContext(body);
    }

    private static T StartWithoutContext<T>(Func<T> start)
    {
        SynchronizationContext? context = SynchronizationContext.Current;
        SynchronizationContext.SetSynchronizationContext(null);
        try { return start(); }
        finally { SynchronizationContext.SetSynchronizationContext(context); }
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

    /// <summary>FNV-1a of the name: the same in every process (string.GetHashCode is not).</summary>
    private static int StableHash(string name)
    {
        uint hash = 2166136261;
        foreach (char c in name) hash = (hash ^ c) * 16777619;
        return (int)hash;
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
