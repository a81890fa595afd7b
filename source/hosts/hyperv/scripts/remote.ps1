param([string]$RdScript, [string]$RdParams, [string]$RdTarget)
# rundirect remote launcher: runs one constant script on another Hyper-V host through PowerShell
# remoting. The script, its parameters and the computer name all arrive as base64 (data only).
$ErrorActionPreference = 'Stop'
try {
	$target = [Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($RdTarget)) | ConvertFrom-Json
	$block = [ScriptBlock]::Create([Text.Encoding]::UTF8.GetString([Convert]::FromBase64String($RdScript)))
	foreach ($line in @(Invoke-Command -ComputerName $target.computer -ScriptBlock $block -ArgumentList $RdParams)) { [Console]::Out.WriteLine([string]$line) }
} catch {
	$failure = New-Object -TypeName PSObject -Property @{ code = 'REMOTE_UNREACHABLE'; message = $_.Exception.Message; type = $_.Exception.GetType().FullName }
	$envelope = New-Object -TypeName PSObject -Property @{ ok = $false; data = $null; error = $failure }
	$json = ConvertTo-Json -InputObject $envelope -Depth 4 -Compress
	[Console]::Out.WriteLine('RDENVELOPE ' + [regex]::Replace($json, '[^\x00-\x7F]', { param($m) '\u{0:x4}' -f [int][char]$m.Value }))
}
