namespace Rx.Netstack.Tests.Support;

/// <summary>
/// Tests that measure process-wide quantities (managed memory, thread counts, real time) run alone: with other test classes
/// running in parallel, GC.GetTotalMemory would count their garbage.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class SerialCollection
{
    public const string Name = "Serial (process-wide measurements)";
}
