using Rx.Netstack.Commands;
using Rx.Netstack.Engine;

namespace Rx.Netstack;

public sealed partial class Netstack
{
    /// <summary>Routes a command to its family. Runs on the engine; never throws out (a fault is answered as an error).</summary>
    internal void Dispatch(PendingRequest request, Instant now)
    {
        try
        {
            switch (request.Command)
            {
                case Command.Stack.SetAddresses set:
                    if (set.Addresses is null || set.Addresses.Any(a => a.PrefixLength < 0 || a.PrefixLength > (a.Address.IsV6 ? 128 : 32) || a.Address.IsUnspecified || a.Address.IsMulticast))
                    {
                        _passes.Fail(request, NetstackError.Bad(BadRequestReason.InvalidArgument, "Every address must be unicast with a prefix length in range."));
                        break;
                    }
                    _ip.SetAddresses(set.Addresses);
                    _passes.Complete(request, Reply.Ok.Instance);
                    break;
                case Command.Udp udp: _udp.Execute(request, udp); break;
                case Command.Raw raw: _raw.Execute(request, raw); break;
                case Command.Icmp.Ping ping: _ip.ExecutePing(request, ping, now); break;
                case Command.TcpListen listen: _tcp.Execute(request, listen); break;
                case Command.TcpStream stream: _tcp.Execute(request, stream, now); break;
                default:
                    _passes.Fail(request, NetstackError.Bad(BadRequestReason.InvalidArgument, $"Unknown command {request.Command.GetType().Name}."));
                    break;
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // A bug must not take the engine down: answer the request and count it.
            _counters.EngineFaults++;
            _passes.Fail(request, NetstackError.Of(NetstackErrorKind.EngineFault, $"The engine failed on {request.Command.GetType().Name}: {ex.GetType().Name}: {ex.Message}"));
        }
    }
}
