namespace Rx.Netstack.Engine;

/// <summary>Hands out ephemeral ports from 49152–65535 (RFC 6335 §6), round robin, skipping ports in use.</summary>
internal sealed class PortAllocator
{
    public const ushort First = 49152;
    public const ushort Last = 65535;
    private int _next;

    public PortAllocator(int seed) => _next = First + (int)((uint)seed % (Last - First + 1));

    /// <summary>The next port for which <paramref name="isFree"/> says yes, or 0 when none is.</summary>
    public ushort Allocate<TState>(TState state, Func<TState, ushort, bool> isFree)
    {
        const int range = Last - First + 1;
        for (int i = 0; i < range; i++)
        {
            ushort port = (ushort)_next;
            _next = _next == Last ? First : _next + 1;
            if (isFree(state, port)) return port;
        }
        return 0;
    }
}
