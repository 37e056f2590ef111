# Post-install configuration for Windows Server 2016 Datacenter Core.
# Rendered by osbundle: the quoted hash-delimited values below are macros.
$ErrorActionPreference = 'Stop'
Start-Transcript -Path 'C:\Windows\Temp\osbundle-post-install.log' -Append

$HostName     = '#server_settings.server0.hostname#'
$NtpServers   = '#server_settings.ntp.servers#'
$AgentServer  = '#server_settings.agent.server#'
$AgentTenant  = '#server_settings.agent.tenant#'
$SoftwarePath = '#server_settings.deploy.softwarePath#'
$ProfileName  = '#predefined.profile.name#'

Write-Output "Configuring $HostName from profile $ProfileName"

# Time: the domain hierarchy is not reachable yet, so point w32time at the pool.
w32tm /config /manualpeerlist:"$NtpServers" /syncfromflags:manual /update
Restart-Service w32time

# Hardening: SMBv1 off, TLS 1.0/1.1 off, RDP with NLA only.
Set-SmbServerConfiguration -EnableSMB1Protocol $false -Force
foreach ($proto in 'TLS 1.0', 'TLS 1.1') {
    $key = "HKLM:\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols\$proto\Server"
    New-Item -Path $key -Force | Out-Null
    New-ItemProperty -Path $key -Name 'Enabled' -Value 0 -PropertyType DWord -Force | Out-Null
}
Set-ItemProperty -Path 'HKLM:\SYSTEM\CurrentControlSet\Control\Terminal Server\WinStations\RDP-Tcp' `
    -Name 'UserAuthentication' -Value 1

# Monitoring agent from the bundle's software directory.
$zip = Join-Path $SoftwarePath 'agent.zip'
Expand-Archive -Path $zip -DestinationPath 'C:\Program Files\Contoso' -Force
$conf = 'C:\Program Files\Contoso\agent\agent.conf'
(Get-Content $conf) -replace '^server = .*', "server = $AgentServer" |
    Set-Content -Path $conf -Encoding ASCII
Add-Content -Path $conf -Value "tenant = $AgentTenant"
& 'C:\Program Files\Contoso\agent\install.cmd'
if ($LASTEXITCODE -ne 0) { throw "agent install failed with exit code $LASTEXITCODE" }

Stop-Transcript
