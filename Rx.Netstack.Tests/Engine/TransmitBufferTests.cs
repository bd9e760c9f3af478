using System.Runtime.InteropServices;
using Rx.Netstack.Engine;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tests.Support;

namespace Rx.Netstack.Tests.Engine;

/// <summary>
/// A stack receiving a large frame from another stack's transmit buffer over a synchronous pipe takes the buffer instead of
/// copying it; the hand-over is only possible during the send, once, and leaves the frame intact for other observers.
/// </summary>
public sealed class TransmitBufferTests
{
    [Fact]
    public void A_buffer_can_be_detached_only_while_its_frame_is_being_sent_and_only_once()
    {
        TransmitBuffer buffer = TransmitBuffer.Rent();
        Assert.False(buffer.TryDetach()); // not being sent

        buffer.BeginSend();
        Assert.True(buffer.TryDetach());
        Assert.False(buffer.TryDetach()); // a second receiver must copy
        Assert.True(buffer.EndSend()); // the sender learns it must take another buffer

        TransmitBuffer.Return(buffer);
        buffer.BeginSend();
        Assert.False(buffer.EndSend()); // nobody took it this time
    }

    [Fact]
    public void A_buffer_the_receiver_finished_with_first_is_not_reused_before_its_sender_lets_go()
    {
        TransmitBuffer buffer = TransmitBuffer.Rent();
        buffer.BeginSend();
        Assert.True(buffer.TryDetach());
        TransmitBuffer.Return(buffer); // the receiver's pass ran on another thread and is done already

        // The sender has not returned from the send yet: nobody may get this buffer from the pool meanwhile.
        var rented = Enumerable.Range(0, 20).Select(_ => TransmitBuffer.Rent()).ToList();
        Assert.DoesNotContain(buffer, rented);

        Assert.True(buffer.EndSend()); // now it is free
    }

    [Fact]
    public void Memory_handed_out_before_a_detach_still_reads_the_same_bytes()
    {
        TransmitBuffer buffer = TransmitBuffer.Rent();
        buffer.Array.AsSpan(10, 3).Fill(7);
        ReadOnlyMemory<byte> frame = buffer.Frame(10, 3);
        buffer.BeginSend();
        Assert.True(MemoryMarshal.TryGetMemoryManager(frame, out TransmitBuffer? owner, out int start, out int length));
        Assert.Same(buffer, owner);
        Assert.Equal((10, 3), (start, length));
        Assert.True(owner.TryDetach());
        buffer.EndSend();
        Assert.Equal(new byte[] { 7, 7, 7 }, frame.ToArray());
    }

    [Fact]
    public void Large_segments_between_two_stacks_arrive_intact_and_another_observer_of_the_link_sees_valid_frames()
    {
        using var pair = new StackPair(mtu: 65535); // checksums computed: the tap can verify every frame
        var s = pair.Scheduler;
        int framesSeen = 0, badFrames = 0;
        // Subscribed after B attached: it sees each frame after B took (or copied) it.
        using var tap = pair.DeviceB.Received.Subscribe(frame =>
        {
            framesSeen++;
            if (Rx.Netstack.Wire.Ipv4Header.TryParse(frame.Span, out var ip, out int headerLength, out ReadOnlySpan<byte> payload) != Rx.Netstack.Wire.WireError.None
                || Rx.Netstack.Wire.TcpHeader.TryParse(payload, ip.Source, ip.Destination, out _, out _) != Rx.Netstack.Wire.WireError.None)
                badFrames++;
        });
        var (client, server) = pair.ConnectTcp();
        byte[] data = new byte[1_000_000];
        new Random(5).NextBytes(data);

        Task send = client.SendAsync(data);
        byte[] received = pair.ReadExactly(server, data.Length, bufferSize: 100_000);
        s.Await(send);

        Assert.Equal(data, received);
        Assert.True(framesSeen > 15, $"{framesSeen} frames");
        Assert.Equal(0, badFrames);
    }
}
