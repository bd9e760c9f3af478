using System.Reactive.Subjects;
using Microsoft.Reactive.Testing;
using Rx.Netstack.Devices;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tests.Support;

namespace Rx.Netstack.Tests.Engine;

/// <summary>
/// <see cref="DeviceReadBuffer"/>: a device that reads into it hands large frames to the stack without a copy. The stack takes
/// the buffer of a super-packet (the device continues in a fresh one) and copies small frames; either way the bytes arrive
/// intact although the device overwrites its buffer after every delivery, as a read loop does with its next read.
/// </summary>
public sealed class DeviceReadBufferTests
{
    /// <summary>Stack B's device: each frame from the pipe is "read" into a <see cref="DeviceReadBuffer"/> behind a 10-byte header
    /// (as a TUN read with a virtio-net header), delivered, and then the buffer is overwritten.</summary>
    private sealed class ReadLoopDevice : IPacketDevice, IDisposable
    {
        private const int HeaderLength = 10;
        private readonly Subject<ReadOnlyMemory<byte>> _received = new();
        private readonly DeviceReadBuffer _buffer = new();
        private readonly IDisposable _reading;
        private readonly PipeDevice _end;

        public ReadLoopDevice(PipeDevice end)
        {
            _end = end;
            _reading = end.Received.Subscribe(frame =>
            {
                frame.Span.CopyTo(_buffer.Span[HeaderLength..]);
                if (_buffer.Deliver(_received, HeaderLength, frame.Length)) Taken++;
                else Copied++;
                _buffer.Span.Fill(0xEE); // the next read lands here: nobody may still be looking at it
            });
        }

        public int Taken { get; private set; }
        public int Copied { get; private set; }
        public IObservable<ReadOnlyMemory<byte>> Received => _received;
        public IObserver<ReadOnlyMemory<byte>> Transmit => _end.Transmit;
        public int Mtu => _end.Mtu;
        public ChecksumOffload ChecksumOffload => _end.ChecksumOffload;
        public bool TcpSegmentationOffload => _end.TcpSegmentationOffload;

        public void Dispose() => _reading.Dispose();
    }

    [Fact]
    public void Super_packets_are_taken_small_frames_copied_and_every_byte_arrives()
    {
        var s = new TestScheduler();
        using var a = new Netstack(new NetstackOptions { Addresses = [new(StackPair.A4, 24)], RunContinuationsInline = true }, s);
        using var b = new Netstack(new NetstackOptions { Addresses = [new(StackPair.B4, 24)], RunContinuationsInline = true }, s);
        var (pipeA, pipeB) = PipeDevice.CreatePair(1500, checksumOffload: ChecksumOffload.Both, tcpSegmentationOffload: true);
        using var device = new ReadLoopDevice(pipeB);
        a.Attach(pipeA);
        b.Attach(device);
        TcpConnectionListener listener = s.Await(b.ListenTcpAsync(80));
        Task<TcpConnection> accept = listener.AcceptAsync();
        TcpConnection client = s.Await(a.ConnectTcpAsync(new NetEndpoint(StackPair.B4, 80)));
        TcpConnection server = s.Await(accept);

        byte[] data = new byte[2_000_000];
        new Random(11).NextBytes(data);
        Task sent = s.StartInVirtualTime(() => client.SendAsync(data));
        s.AdvanceBy(TimeSpan.FromMilliseconds(50).Ticks); // nobody reads yet: the window fills, payload waits in its frames
        byte[] received = new byte[data.Length];
        int got = 0;
        while (got < data.Length)
        {
            int n = s.Await(server.ReadAsync(received.AsMemory(got)).AsTask());
            Assert.True(n > 0, "end of stream before every byte came");
            got += n;
        }
        s.Await(sent);
        Assert.Equal(data, received);
        Assert.True(device.Taken > 0, "no super-packet was taken whole");
        Assert.True(device.Copied > 0, "no small frame (handshake, ACK) was copied");
        pipeA.Dispose();
        pipeB.Dispose();
    }

    [Fact]
    public void Deliver_refuses_a_frame_outside_the_buffer()
    {
        var buffer = new DeviceReadBuffer();
        var sink = new Subject<ReadOnlyMemory<byte>>();
        Assert.Throws<ArgumentOutOfRangeException>(() => buffer.Deliver(sink, -1, 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => buffer.Deliver(sink, 0, DeviceReadBuffer.Size + 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => buffer.Deliver(sink, 100, DeviceReadBuffer.Size - 99));
        Assert.False(buffer.Deliver(sink, 0, DeviceReadBuffer.Size)); // nobody took it: the same buffer goes on
    }
}
