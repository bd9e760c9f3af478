namespace Rx.Netstack.Tests.Support;

/// <summary>Checks of the stack's own bookkeeping, for tests that put it under load.</summary>
internal static class StatsAssert
{
    /// <summary>The stats' connections by state (kept as a tally) equal a count over every connection in the table.</summary>
    public static void TallyMatchesTable(Netstack stack)
    {
        var tallied = stack.GetStats().ConnectionsByState.OrderBy(p => p.Key).ToList();
        var counted = stack.ConnectionsByStateCounted().OrderBy(p => p.Key).ToList();
        Assert.Equal(counted, tallied);
    }
}
