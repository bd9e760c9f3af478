namespace Rx.Netstack.Testing;

/// <summary>
/// What <see cref="Marbles"/>' <c>Expect</c> throws when the recorded notifications are not the expected diagram: the message
/// shows both diagrams one above the other, aligned by frame, with the first difference marked, and the values' legend.
/// </summary>
/// <remarks>Test frameworks report any exception a test throws as its failure, so no framework's assertion type is needed.</remarks>
public sealed class MarbleAssertionException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">The report: the diagrams, the caret line and the legend.</param>
    /// <param name="expected">The expected diagram as rendered in the report.</param>
    /// <param name="actual">The actual diagram as rendered in the report.</param>
    /// <param name="frame">The first frame (relative to <c>^</c>) at which they differ.</param>
    public MarbleAssertionException(string message, string expected, string actual, int frame) : base(message)
    {
        Expected = expected;
        Actual = actual;
        Frame = frame;
    }

    /// <summary>The expected diagram as rendered in the report (aligned with <see cref="Actual"/>).</summary>
    public string Expected { get; }

    /// <summary>The actual diagram as rendered in the report (aligned with <see cref="Expected"/>).</summary>
    public string Actual { get; }

    /// <summary>The first frame at which the diagrams differ, counted from the subscription point (<c>^</c>, or the diagram's first frame).</summary>
    public int Frame { get; }
}
