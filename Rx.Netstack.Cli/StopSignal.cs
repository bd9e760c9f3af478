using System.Runtime.InteropServices;

namespace Rx.Netstack.Cli;

/// <summary>
/// Ctrl-C (SIGINT) and SIGTERM as a cancellation token, for the commands that serve until told to stop (tun, http,
/// demo --dashboard): the signal is taken (the runtime does not end the process), so the command closes its connections and
/// device cleanly.
/// </summary>
internal sealed class StopSignal : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly PosixSignalRegistration _sigint, _sigterm;

    public StopSignal()
    {
        _sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        _sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
    }

    /// <summary>Cancelled by the first SIGINT or SIGTERM.</summary>
    public CancellationToken Token => _stop.Token;

    private void OnSignal(PosixSignalContext context)
    {
        context.Cancel = true; // we shut down ourselves, cleanly
        _stop.Cancel();
    }

    public void Dispose()
    {
        _sigint.Dispose();
        _sigterm.Dispose();
        _stop.Dispose();
    }
}
