using Rx.Netstack.Devices;
using Rx.Netstack.Tcp;

namespace Rx.Netstack.Tests.Api;

/// <summary>
/// Two stacks on their own engine threads (real time, each an <c>EventLoopScheduler</c>) joined by a synchronous pipe:
/// the client is 10.0.0.1 / fd00::1, the server 10.0.0.2 / fd00::2. For tests of code that runs on real time (Kestrel, HttpClient);
/// every wait in them is bounded by <see cref="Timeout"/>.
/// </summary>
internal sealed class RealTimeStackPair : IDisposable
{
    public static readonly NetAddress ClientV4 = NetAddress.Parse("10.0.0.1"), ServerV4 = NetAddress.Parse("10.0.0.2");
    public static readonly NetAddress ClientV6 = NetAddress.Parse("fd00::1"), ServerV6 = NetAddress.Parse("fd00::2");
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    private readonly CancellationTokenSource _timeout = new(Timeout);

    public RealTimeStackPair()
    {
        var tcp = new TcpSettings { SendBufferSize = 256 * 1024, ReceiveBufferSize = 256 * 1024 };
        Client = new Netstack(new NetstackOptions { Addresses = [new(ClientV4, 24), new(ClientV6, 64)], Tcp = tcp });
        Server = new Netstack(new NetstackOptions { Addresses = [new(ServerV4, 24), new(ServerV6, 64)], Tcp = tcp });
        (PipeDevice a, PipeDevice b) = PipeDevice.CreatePair(1500);
        Client.Attach(a);
        Server.Attach(b);
    }

    public Netstack Client { get; }
    public Netstack Server { get; }

    /// <summary>Cancelled when the test ran longer than <see cref="Timeout"/>.</summary>
    public CancellationToken Token => _timeout.Token;

    public void Dispose()
    {
        Client.Dispose();
        Server.Dispose();
        _timeout.Dispose();
    }
}
