namespace Rx.Netstack.Devices;

/// <summary>
/// A Linux TUN interface opened with <c>IFF_MULTI_QUEUE</c>: one <see cref="TunDevice"/> descriptor (and reader thread) per
/// queue, for a stack with as many engines (<see cref="NetstackOptions.Engines"/>, <see cref="Netstack.AttachQueues"/>).
/// </summary>
/// <remarks>
/// Without a steering program the kernel picks the queue of a packet to us by its flow table: the queue we last wrote a packet of
/// that flow to, else its flow hash scaled to the queue count (<c>tun_automq_select_queue</c>, drivers/net/tun.c; both use
/// the symmetric <c>__skb_get_hash_symmetric</c>, so both directions of a flow map to one entry). The stack's hash is its own, so a
/// flow's first packet (a kernel client's SYN) may land on another engine's queue; the stack moves it (docs/sharding.md), the
/// engine's answer leaves through its own queue, and from then on the kernel sends that flow to it.
/// </remarks>
public sealed class MultiQueueTunDevice : IMultiQueuePacketDevice, IDisposable
{
    private readonly TunDevice[] _devices;

    private MultiQueueTunDevice(TunDevice[] devices) => _devices = devices;

    /// <summary>
    /// Opens (and by default creates) <paramref name="queues"/> queues of the TUN interface <paramref name="name"/> in the calling
    /// thread's network namespace; as <see cref="TunDevice.Open"/> otherwise. All queues have the offloads of the first.
    /// </summary>
    /// <exception cref="TunDeviceException">As <see cref="TunDevice.Open"/>; also when an interface of that name exists
    /// without <c>IFF_MULTI_QUEUE</c>.</exception>
    public static MultiQueueTunDevice Open(string name, int queues, bool createIfMissing = true, bool offloads = true)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(queues, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(queues, 64);
        var devices = new List<TunDevice>(queues);
        try
        {
            for (int i = 0; i < queues; i++)
            {
                // The first queue creates the interface; the others attach to it by its actual name.
                TunDevice device = TunDevice.OpenWithFlags(i == 0 ? name : devices[0].Name, i == 0 && createIfMissing, i == 0 ? offloads : devices[0].Offloads,
                    LinuxNative.IFF_MULTI_QUEUE);
                devices.Add(device);
            }
            return new MultiQueueTunDevice([.. devices]);
        }
        catch
        {
            foreach (TunDevice d in devices) d.Dispose();
            throw;
        }
    }

    /// <summary>The queues' devices (their counters: drops, GSO packets).</summary>
    public IReadOnlyList<TunDevice> Devices => _devices;

    /// <inheritdoc />
    public IReadOnlyList<IPacketDevice> Queues => _devices;

    /// <summary>The interface name the kernel gave.</summary>
    public string Name => _devices[0].Name;

    /// <summary>The interface's MTU when it was opened.</summary>
    public int Mtu => _devices[0].Mtu;

    /// <summary>Why the queues run in plain mode (see <see cref="TunDevice.OffloadsOffReason"/>); null with offloads on.</summary>
    public string? OffloadsOffReason => _devices[0].OffloadsOffReason;

    /// <summary>Closes every queue (the interface goes with the last, unless it is persistent).</summary>
    public void Dispose()
    {
        foreach (TunDevice device in _devices) device.Dispose();
    }
}
