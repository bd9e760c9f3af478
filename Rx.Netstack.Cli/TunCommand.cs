namespace Rx.Netstack.Cli;

/// <summary>The `tun` command.</summary>
internal static class TunCommand
{
    public static Task<int> RunAsync(string[] args)
    {
        Console.Error.WriteLine("rx-netstack tun: not built yet");
        return Task.FromResult(1);
    }
}
