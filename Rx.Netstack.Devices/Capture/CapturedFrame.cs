namespace Rx.Netstack.Devices;

/// <summary>A frame seen by a <see cref="CaptureDevice"/>: a copy the observer owns.</summary>
/// <param name="Direction">In (received) or out (transmitted).</param>
/// <param name="Timestamp">The capture scheduler's time when the frame passed.</param>
/// <param name="Data">A private copy of the frame's bytes.</param>
public sealed record CapturedFrame(CaptureDirection Direction, DateTimeOffset Timestamp, byte[] Data);
