namespace Rx.Netstack.Cli;

/// <summary>The `demo` command.</summary>
internal static class DemoCommand
{
    public static Task<int> RunAsync(string[] args)
    {
        Console.Error.WriteLine("rx-netstack demo: not built yet");
        return Task.FromResult(1);
    }
}
