namespace Rx.Netstack.Cli;

/// <summary>The `bench` command.</summary>
internal static class BenchCommand
{
    public static Task<int> RunAsync(string[] args)
    {
        Console.Error.WriteLine("rx-netstack bench: not built yet");
        return Task.FromResult(1);
    }
}
