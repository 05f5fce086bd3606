package threats

// QualityBrands are the well-known brands `waymark bench threats
// --quality` protects: banks and payments, mail and cloud, shops, social
// networks and crypto wallets, the names phishing reports name most.
var QualityBrands = []string{
	"paypal.com", "microsoft.com", "myetherwallet.com", "apple.com", "amazon.com",
	"google.com", "facebook.com", "netflix.com", "instagram.com", "linkedin.com",
	"dropbox.com", "github.com", "chase.com", "wellsfargo.com", "bankofamerica.com",
	"coinbase.com", "binance.com", "metamask.io", "ebay.com", "adobe.com",
	"docusign.com", "outlook.com", "yahoo.com", "americanexpress.com", "blockchain.com",
}
