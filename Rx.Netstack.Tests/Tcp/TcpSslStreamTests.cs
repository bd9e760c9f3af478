using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Rx.Netstack.Sockets;
using Rx.Netstack.Tests.Api;

namespace Rx.Netstack.Tests.Tcp;

/// <summary>TLS over <see cref="TcpConnection.AsStream"/>: a real handshake and data both ways between two stacks (real time, bounded).</summary>
public sealed class TcpSslStreamTests
{
    private static X509Certificate2 SelfSigned(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false)); // server auth
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        request.CertificateExtensions.Add(san.Build());
        using X509Certificate2 cert = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddHours(1));
        // Through PKCS#12 so the private key is usable by the platform's TLS on every OS.
        return X509CertificateLoader.LoadPkcs12(cert.Export(X509ContentType.Pkcs12), null);
    }

    [Fact]
    public async Task SslStream_handshakes_over_a_connection_stream_and_carries_data_both_ways()
    {
        using var pair = new RealTimeStackPair();
        using X509Certificate2 certificate = SelfSigned("netstack.test");
        await using var listener = await pair.Server.ListenTcpAsync(443);
        var accept = listener.AcceptAsync(pair.Token);
        var clientConnection = await pair.Client.ConnectTcpAsync("10.0.0.2:443");
        var serverConnection = await accept;

        byte[] request = RandomNumberGenerator.GetBytes(300_000), response = RandomNumberGenerator.GetBytes(200_000);
        await using var serverTls = new SslStream(serverConnection.AsStream());
        await using var clientTls = new SslStream(clientConnection.AsStream(), leaveInnerStreamOpen: false,
            (_, cert, _, errors) => cert is not null && cert.GetCertHashString() == certificate.GetCertHashString());

        Task serverSide = Task.Run(async () =>
        {
            await serverTls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = certificate }, pair.Token);
            byte[] got = new byte[request.Length];
            await serverTls.ReadExactlyAsync(got, pair.Token);
            Assert.Equal(SHA256.HashData(request), SHA256.HashData(got));
            await serverTls.WriteAsync(response, pair.Token);
            await serverTls.FlushAsync(pair.Token);
        });
        await clientTls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "netstack.test" }, pair.Token);
        Assert.True(clientTls.IsAuthenticated && clientTls.IsEncrypted);
        Assert.True(clientTls.SslProtocol is SslProtocols.Tls12 or SslProtocols.Tls13);
        Assert.Equal(certificate.GetCertHashString(), clientTls.RemoteCertificate!.GetCertHashString());

        await clientTls.WriteAsync(request, pair.Token);
        await clientTls.FlushAsync(pair.Token);
        byte[] answer = new byte[response.Length];
        await clientTls.ReadExactlyAsync(answer, pair.Token);
        await serverSide.WaitAsync(pair.Token);
        Assert.Equal(SHA256.HashData(response), SHA256.HashData(answer));

        // TLS records went over the connection: more bytes than the plaintext (headers, handshake, tags).
        var info = await clientConnection.GetInfoAsync(pair.Token);
        Assert.True(info.BytesSent > request.Length);
    }
}
