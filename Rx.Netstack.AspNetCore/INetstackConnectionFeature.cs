using Rx.Netstack.Sockets;

namespace Rx.Netstack.AspNetCore;

/// <summary>
/// The <see cref="TcpConnection"/> under a Kestrel connection: <c>HttpContext.Features.Get&lt;INetstackConnectionFeature&gt;()</c>
/// (or <c>ConnectionContext.Features</c>) gives middleware its state, RTT and windows (<see cref="TcpConnection.GetInfoAsync"/>).
/// </summary>
public interface INetstackConnectionFeature
{
    /// <summary>The userspace stack's connection.</summary>
    TcpConnection Connection { get; }
}
