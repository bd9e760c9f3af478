namespace Rx.Netstack.Devices;

/// <summary>Which way a captured frame went, seen from the stack.</summary>
public enum CaptureDirection
{
    /// <summary>Received from the link.</summary>
    In,

    /// <summary>Transmitted by the stack onto the link.</summary>
    Out,
}
