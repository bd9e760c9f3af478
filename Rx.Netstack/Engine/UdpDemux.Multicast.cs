using Rx.Netstack.Commands;
using Rx.Netstack.Diagnostics;

namespace Rx.Netstack.Engine;

internal sealed partial class UdpDemux
{
    /// <summary>
    /// The delivery rule for a datagram to a multicast group (see docs/ethernet.md, "Multicast"): the socket bound to its port
    /// (to the group, or to any address) gets it only if it joined the group itself — as Linux with IP_MULTICAST_ALL off, so a
    /// socket never receives a group another socket joined. The groups the stack is in by itself (all-hosts, all-nodes,
    /// solicited-node) reach the bound socket as unicast does. Otherwise a counted drop.
    /// </summary>
    private bool AcceptsMulticast(UdpSocketState socket, NetAddress group)
    {
        if (socket.Groups?.Contains(group) == true || !Ip.Multicast.IsJoined(group)) return true;
        Counters.Drop(DropReason.MulticastNotJoined);
        return false;
    }

    /// <summary>Runs the multicast commands of a socket.</summary>
    private void ExecuteMulticast(PendingRequest request, UdpSocketState socket, Command.Udp command)
    {
        switch (command)
        {
            case Command.Udp.JoinGroup join when CheckGroup(request, socket, join.Group):
                if (socket.Groups?.Contains(join.Group) == true)
                {
                    Passes.Fail(request, NetstackError.Bad(BadRequestReason.AlreadyJoined, $"The socket on {socket.Local} has joined {join.Group} already."));
                    return;
                }
                (socket.Groups ??= []).Add(join.Group);
                Ip.Multicast.Join(join.Group, Passes.Now);
                Passes.Complete(request, Reply.Ok.Instance);
                break;
            case Command.Udp.LeaveGroup leave when CheckGroup(request, socket, leave.Group):
                if (socket.Groups?.Remove(leave.Group) != true)
                {
                    Passes.Fail(request, NetstackError.Bad(BadRequestReason.NotJoined, $"The socket on {socket.Local} has not joined {leave.Group}."));
                    return;
                }
                Ip.Multicast.Leave(leave.Group, Passes.Now);
                Passes.Complete(request, Reply.Ok.Instance);
                break;
            case Command.Udp.SetMulticastHopLimit set:
                if (set.HopLimit is < 1 or > 255)
                {
                    Passes.Fail(request, NetstackError.Bad(BadRequestReason.InvalidArgument, $"A multicast hop limit is 1 to 255, not {set.HopLimit}."));
                    return;
                }
                socket.MulticastHopLimit = (byte)set.HopLimit;
                Passes.Complete(request, Reply.Ok.Instance);
                break;
        }
    }

    /// <summary>A group to join or leave must be multicast, of the socket's version, on a stack of one engine.</summary>
    private bool CheckGroup(PendingRequest request, UdpSocketState socket, NetAddress group)
    {
        NetstackError? error =
            !group.IsMulticast ? NetstackError.Bad(BadRequestReason.NotMulticast, $"{group} is not a multicast address.")
            : group.IsV6 != socket.Local.Address.IsV6 ? NetstackError.Bad(BadRequestReason.WrongIpVersion,
                $"A socket bound to IPv{socket.Local.Address.Version} cannot join the IPv{group.Version} group {group}.")
            : socket.Flow is not null ? NetstackError.Bad(BadRequestReason.InvalidState, "An intercepted flow cannot join a multicast group.")
            : Options.Engines > 1 ? NetstackError.Bad(BadRequestReason.InvalidArgument,
                $"Multicast needs a stack of one engine (NetstackOptions.Engines is {Options.Engines}); it is not sharded yet.")
            : null;
        if (error is null) return true;
        Passes.Fail(request, error);
        return false;
    }

    /// <summary>A closing socket leaves every group it joined.</summary>
    private void LeaveAll(UdpSocketState socket)
    {
        if (socket.Groups is not { } groups) return;
        foreach (NetAddress group in groups) Ip.Multicast.Leave(group, Passes.Now);
        groups.Clear();
    }
}
