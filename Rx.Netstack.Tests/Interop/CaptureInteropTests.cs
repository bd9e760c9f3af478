using Rx.Netstack.Devices;
using Rx.Netstack.Tests.Devices;

namespace Rx.Netstack.Tests.Interop;

/// <summary>Our capture of a real exchange with the kernel, read back by tshark.</summary>
[Collection(InteropCollection.Name)]
public sealed class CaptureInteropTests
{
    [NamespaceFact("curl", "tshark")]
    public async Task Tshark_finds_the_three_way_handshake_of_a_kernel_curl_in_our_pcap()
    {
        string path = Path.Combine(Path.GetTempPath(), $"rx-interop-{Guid.NewGuid():N}.pcap");
        try
        {
            PcapWriter? writer = null;
            await using (var rig = await InteropRig.StartAsync(wrap: (tun, stack, _) =>
                         {
                             writer = new PcapWriter(File.Create(path), stack.Scheduler);
                             return new CaptureDevice(tun, stack.Scheduler, writer);
                         }))
            {
                string page = rig.Namespace.Exec("curl", "-sS", "--max-time", "10", $"http://{InteropRig.StackV4}/");
                Assert.Contains("rx-netstack", page);
            }
            writer!.Dispose();

            var packets = Tshark.Fields(path, "tcp.port == 80", "ip.src", "tcp.flags.syn", "tcp.flags.ack", "tcp.seq", "tcp.ack", "tcp.len");
            Assert.True(packets.Length >= 3, $"only {packets.Length} TCP packets captured");
            string kernel = InteropRig.KernelV4.ToString(), ours = InteropRig.StackV4.ToString();
            // SYN from the kernel, SYN-ACK from us, ACK from the kernel; relative sequence numbers 0/0, 0/1, 1/1.
            Assert.Equal((kernel, true, false, "0", "0"), Row(packets[0]));
            Assert.Equal((ours, true, true, "0", "1"), Row(packets[1]));
            Assert.Equal((kernel, false, true, "1", "1"), Row(packets[2]));
            Assert.Equal("0", packets[2][5]);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static (string Source, bool Syn, bool Ack, string Seq, string AckNumber) Row(string[] fields) =>
        (fields[0], Tshark.Flag(fields[1]), Tshark.Flag(fields[2]), fields[3], fields[4]);
}
