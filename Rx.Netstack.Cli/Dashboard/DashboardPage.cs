namespace Rx.Netstack.Cli.Dashboard;

/// <summary>The dashboard page: one self-contained HTML file (CSS, script, SVG charts; nothing fetched) embedded in the tool.</summary>
internal static class DashboardPage
{
    private const string ResourceName = "Rx.Netstack.Cli.Dashboard.dashboard.html";

    /// <summary>The page's bytes (UTF-8).</summary>
    public static byte[] Html { get; } = Load();

    private static byte[] Load()
    {
        using Stream stream = typeof(DashboardPage).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"The tool was built without its {ResourceName} resource.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }
}
